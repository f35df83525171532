"""Prometheus metrics: ``GET /metrics`` with ``Authorization: Bearer <METRICS_TOKEN>``.

Two kinds of figures:

- Counted by each process as requests happen (request counts and latency by endpoint and status,
  login outcomes). Under gunicorn they use prometheus_client's multiprocess mode: every worker
  writes its own files in ``PROMETHEUS_MULTIPROC_DIR`` (the systemd unit sets it), a scrape of any
  worker adds them all up, and ``gunicorn.conf.py`` marks dead workers (``child_exit``).
- Read from the database at scrape time (mail queue and delivery outcomes, newsletter progress,
  consent decisions, data-protection inquiries due): the same on every host, so take one host's
  or ``max()`` across hosts.

No label carries personal data: endpoints are Flask endpoint names (``accounts.confirm``), never
paths, which carry tokens; newsletter issues by id; consent and login by outcome only. Without a
METRICS_TOKEN there is no endpoint at all (404), and nginx never exposes /metrics (deploy/).
"""

from __future__ import annotations

import hmac
import os
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from flask import Blueprint, Flask, abort, current_app, g, has_app_context, request
from flask.typing import ResponseReturnValue
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import event, func, select
from werkzeug.wrappers import Response

from portal.config import ENV_PREFIX, ConfigError

MIN_TOKEN_LENGTH = 16
# Login outcomes: the portal's own (a LoginAttempt row: success, failure, unconfirmed, throttled
# by the per-account throttle) and rate_limited (429 from the per-IP limit, before any check).
LOGIN_OUTCOMES = ("success", "failure", "unconfirmed", "throttled", "rate_limited")

REQUESTS = Counter("portal_http_requests", "HTTP requests answered, by Flask endpoint, method and status",
                   ["endpoint", "method", "status"])
LATENCY = Histogram("portal_http_request_duration_seconds", "Time to answer a request, by Flask endpoint",
                    ["endpoint", "method"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
LOGINS = Counter("portal_login_attempts", "POST /login outcomes", ["outcome"])

bp = Blueprint("metrics", __name__)
# The labelled series per (endpoint, method, status), as prometheus_client advises: labels() takes
# a lock and builds its key on every call. Endpoints, methods and statuses are few.
_CHILDREN: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def _endpoint() -> str:
    rule = request.url_rule
    return rule.endpoint if rule is not None else "unmatched"


def _start_timer() -> None:
    g.metrics_started = time.perf_counter()


def _count(response: Response) -> Response:
    endpoint = _endpoint()
    if endpoint == "metrics.scrape":
        return response
    method = request.method if request.method in ("GET", "POST", "HEAD") else "other"
    key = (endpoint, method, response.status_code)
    children = _CHILDREN.get(key)
    if children is None:
        children = _CHILDREN[key] = (REQUESTS.labels(endpoint, method, str(key[2])), LATENCY.labels(endpoint, method))
    children[0].inc()
    started = g.get("metrics_started")
    if started is not None:
        children[1].observe(time.perf_counter() - started)
    if endpoint == "accounts.login" and method == "POST" and response.status_code == 429 \
            and not g.get("metrics_login_recorded"):
        LOGINS.labels("rate_limited").inc()
    return response


def _login_recorded(mapper: Any, connection: Any, target: Any) -> None:
    outcome = getattr(target, "outcome", None) or ("success" if target.success else "failure")
    LOGINS.labels(outcome if outcome in LOGIN_OUTCOMES else "failure").inc()
    if has_app_context():  # outside one (a script): counted all the same
        g.metrics_login_recorded = True


class DatabaseCollector(Collector):
    """Figures read from the database at each scrape (one short read-only transaction)."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from portal.consent.models import ConsentRecord
        from portal.db import utcnow
        from portal.extensions import db
        from portal.mail import status as queue
        from portal.newsletter import issues
        from portal.newsletter.models import Issue
        from portal.privacy.models import Inquiry

        try:
            figures = queue.figures()
            depth = GaugeMetricFamily("portal_mail_queue_messages", "Messages not yet handed to the relay",
                                      labels=["kind", "state"])
            outcomes = GaugeMetricFamily(
                "portal_mail_deliveries", "Messages in the delivery ledger by outcome (kept MAIL_LOG_RETENTION_DAYS)",
                labels=["kind", "outcome"])
            for kind in figures.kinds:
                depth.add_metric([kind.kind, "waiting"], kind.waiting)
                depth.add_metric([kind.kind, "retrying"], kind.retrying)
                for outcome in ("sent", "failed", "uncertain", "skipped"):
                    outcomes.add_metric([kind.kind, outcome], getattr(kind, outcome))
            oldest = GaugeMetricFamily("portal_mail_oldest_waiting_seconds",
                                       "Age of the oldest message still waiting (0: none)")
            now = utcnow()
            oldest.add_metric([], (now - figures.oldest_waiting).total_seconds() if figures.oldest_waiting else 0)
            yield from (depth, outcomes, oldest)

            progress = GaugeMetricFamily("portal_newsletter_copies", "Copies of recent newsletter issues by status",
                                         labels=["issue", "status"])
            finished = GaugeMetricFamily("portal_newsletter_finished", "1 when the issue has finished sending",
                                         labels=["issue"])
            recent = db.session.execute(
                select(Issue.id, Issue.finished_at).where(Issue.started_at.is_not(None))
                .order_by(Issue.id.desc()).limit(5)
            ).all()
            for issue_id, finished_at in recent:
                for status, count in issues.status_counts(issue_id).items():
                    progress.add_metric([str(issue_id), status], count)
                finished.add_metric([str(issue_id)], 1 if finished_at else 0)
            yield from (progress, finished)

            consent = GaugeMetricFamily("portal_consent_decisions",
                                        "Consent decisions on record (proof kept CONSENT_PROOF_RETENTION_DAYS)",
                                        labels=["action"])
            for action, count in db.session.execute(
                select(ConsentRecord.action, func.count()).group_by(ConsentRecord.action)
            ).all():
                consent.add_metric([action], count)
            yield consent

            due = GaugeMetricFamily("portal_inquiries_open", "Open data-protection inquiries by deadline",
                                    labels=["deadline"])
            open_due = select(func.count()).select_from(Inquiry).where(Inquiry.status == "open")
            overdue = db.session.scalar(open_due.where(Inquiry.due_at < now)) or 0
            week = db.session.scalar(open_due.where(Inquiry.due_at >= now,
                                                    Inquiry.due_at < now + timedelta(days=7))) or 0
            later = db.session.scalar(open_due.where(Inquiry.due_at >= now + timedelta(days=7))) or 0
            due.add_metric(["overdue"], overdue)
            due.add_metric(["within_7_days"], week)
            due.add_metric(["later"], later)
            yield due
        finally:
            db.session.rollback()
        up = GaugeMetricFamily("portal_database_up", "1 when the database answered this scrape")
        up.add_metric([], 1)
        yield up


def _authorised() -> bool:
    token = current_app.config.get("METRICS_TOKEN")
    if not token:
        return False
    given = request.headers.get("Authorization", "")
    return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


@bp.get("/metrics")
def scrape() -> ResponseReturnValue:
    if not _authorised():
        abort(404)  # no hint that something lives here
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        processes = CollectorRegistry()
        MultiProcessCollector(processes)
    else:
        processes = REGISTRY
    body = generate_latest(processes)
    database = CollectorRegistry()
    database.register(DatabaseCollector())
    try:
        body += generate_latest(database)
    except Exception as error:  # the database is away: the process figures still count
        current_app.logger.warning("metrics: database figures unavailable (%s)", type(error).__name__)
        body += b"# HELP portal_database_up 1 when the database answered this scrape\n" \
                b"# TYPE portal_database_up gauge\nportal_database_up 0.0\n"
    response = Response(body, mimetype=CONTENT_TYPE_LATEST)
    response.headers["Cache-Control"] = "no-store"
    return response


_listening = False


def init_app(app: Flask) -> None:
    global _listening
    token = app.config.get("METRICS_TOKEN")
    if token is not None:
        token = str(token)
        if len(token) < MIN_TOKEN_LENGTH or any(ch.isspace() for ch in token):
            raise ConfigError(f"{ENV_PREFIX}METRICS_TOKEN: must be at least {MIN_TOKEN_LENGTH} characters "
                              "without spaces")
        app.config["METRICS_TOKEN"] = token
    app.before_request(_start_timer)
    app.after_request(_count)
    app.register_blueprint(bp)
    if not _listening:
        from portal.accounts.models import LoginAttempt

        event.listen(LoginAttempt, "after_insert", _login_recorded)
        _listening = True
