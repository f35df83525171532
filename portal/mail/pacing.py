"""How fast the engine may go: ``MAIL_RATE`` across every worker and host, a run's own ``--rate``,
and an adaptive slow-down while the server says it is throttling us.

``MAIL_RATE`` is counted in the rate-limit store (Redis once several processes run), so N workers
on M hosts together stay under it. If that store fails, each process falls back to its share
(MAIL_RATE / WORKER_PROCESSES) rather than to the whole rate.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from flask import Flask
from limits import RateLimitItemPerMinute, RateLimitItemPerSecond
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

from portal.mail.transport import Attempt

log = logging.getLogger("portal.mail")

# Adaptive slow-down: the pause between messages doubles on each throttling answer, up to SLOWEST
# (or MAIL_RETRY_MAX_DELAY if shorter), and halves again with each accepted message.
SLOWEST = 10.0
FIRST_SLOWDOWN = 0.2

_limiters: dict[str, FixedWindowRateLimiter] = {}


def _shared_limiter(uri: str) -> FixedWindowRateLimiter:
    # One storage per URI and process: a Redis connection pool is not opened per engine run.
    limiter = _limiters.get(uri)
    if limiter is None:
        limiter = _limiters[uri] = FixedWindowRateLimiter(storage_from_string(uri))
    return limiter


class Pace:
    def __init__(self, app: Flask, local_rate: float | None) -> None:
        config = app.config
        shared = config.get("MAIL_RATE")
        self.shared_rate = float(shared) if shared else None
        self.local_rate = local_rate
        self.processes = max(1, int(config.get("WORKER_PROCESSES") or 1))
        self.key = f"{config.get('RATELIMIT_KEY_PREFIX') or 'portal'}:mail-rate"
        self.uri = str(config["RATELIMIT_STORAGE_URI"])
        self.delay = 0.0  # adaptive pause between messages, seconds
        self.slowest = min(SLOWEST, float(config["MAIL_RETRY_MAX_DELAY"]))
        self._next = time.monotonic()
        self._item = None
        if self.shared_rate:
            per_second = self.shared_rate >= 1
            self._item = (RateLimitItemPerSecond(int(self.shared_rate)) if per_second
                          else RateLimitItemPerMinute(max(1, int(self.shared_rate * 60))))

    @property
    def rate(self) -> float | None:
        rates = [r for r in (self.shared_rate, self.local_rate) if r]
        return min(rates) if rates else None

    def ready(self) -> bool:
        """Whether the next message may go at once (no pause due): only then is it marked ahead."""
        return self.delay == 0 and self.local_rate is None and self._item is None

    def wait(self, flush: Callable[[], None]) -> bool:
        """Sleep as long as the rates ask; ``flush`` runs before any real pause so that "sent" is
        recorded at once, not after it."""
        interval = max(self.delay, 1.0 / self.local_rate if self.local_rate else 0.0)
        now = time.monotonic()
        if self._next > now:
            flush()
            time.sleep(self._next - now)
        self._next = max(self._next, now) + interval
        if self._item is not None:
            self._wait_shared(flush)
        return True

    def _wait_shared(self, flush: Callable[[], None]) -> None:
        assert self._item is not None
        for _ in range(600):
            try:
                limiter = _shared_limiter(self.uri)
                if limiter.hit(self._item, self.key):
                    return
                reset = limiter.get_window_stats(self._item, self.key).reset_time
                pause = min(max(reset - time.time(), 0.005), 1.0)
            except Exception as error:  # the store is down: this process's share, locally
                log.warning("MAIL_RATE store unavailable (%s); pacing this process alone", type(error).__name__)
                flush()
                time.sleep(self.processes / float(self.shared_rate or 1))
                return
            flush()
            time.sleep(pause)

    def observe(self, attempt: Attempt) -> None:
        if attempt.throttled:
            self.delay = min(self.slowest, max(FIRST_SLOWDOWN, self.delay * 2))
            log.info("The mail server is throttling (%s): slowing to one message per %.1f s", attempt.reply,
                     self.delay)
        elif self.delay:  # any answer that is not "slow down" lets the pace recover
            self.delay = self.delay / 2 if self.delay > 0.01 else 0.0
