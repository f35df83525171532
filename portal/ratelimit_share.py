"""A host's share of a rate limit when each worker process counts on its own.

While Redis is unreachable Flask-Limiter counts in each process's memory, so W gunicorn
workers would together allow W times the configured limit. Each process therefore gets
1/W of it: ``10 per minute`` under 4 workers is ``2 per minute`` per process, 8 in all.
A limit smaller than the worker count cannot be split into whole requests per window; each
process then gets one request per ceil(W/n) windows, which keeps the combined average at or
under n per window.
"""

from __future__ import annotations

import math

from limits import RateLimitItem, parse_many


def share(item: RateLimitItem, workers: int) -> str:
    """One process's part of ``item`` when ``workers`` processes count separately."""
    seconds = item.get_expiry()
    if workers <= 1:
        return f"{item.amount} per {seconds} second"
    if item.amount >= workers:
        return f"{item.amount // workers} per {seconds} second"
    return f"1 per {seconds * math.ceil(workers / item.amount)} second"


def per_process(rate: str, workers: int) -> str:
    """``rate`` (Flask-Limiter syntax, several limits joined by ';') divided among ``workers``."""
    if workers <= 1:
        return rate
    return ";".join(share(item, workers) for item in parse_many(rate))
