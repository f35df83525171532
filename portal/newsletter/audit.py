"""The newsletter promise in ``flask privacy audit``: at most once a month, in rare cases twice."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import func, select

from portal import audit
from portal.audit import Result, setting
from portal.extensions import db
from portal.newsletter.issues import HARD_MONTHLY_MAXIMUM
from portal.newsletter.models import Issue, Subscription


def check_newsletter_cap() -> Result:
    value = setting("NEWSLETTER_MONTHLY_LIMIT")
    if not isinstance(value, int) or isinstance(value, bool):
        return Result("newsletter-cap", False, f"NEWSLETTER_MONTHLY_LIMIT is not set to a number: {value!r}")
    ok = 0 <= value <= HARD_MONTHLY_MAXIMUM
    sign = "≤" if ok else ">"
    return Result("newsletter-cap", ok, f"NEWSLETTER_MONTHLY_LIMIT={value} ({sign} {HARD_MONTHLY_MAXIMUM} per month)")


def check_bounce_handling() -> Result:
    """A sender that ignores bounces and complaints loses its reputation, then its relay account."""
    name = "bounce-handling"
    started = db.session.scalar(select(func.count()).select_from(Issue).where(Issue.started_at.is_not(None))) or 0
    subscribed = db.session.scalar(
        select(func.count()).select_from(Subscription).where(Subscription.active.is_(True))) or 0
    ways = [w for w, on in (("BOUNCE_ADDRESS (flask mail inbound)", setting("BOUNCE_ADDRESS")),
                            ("SES_TOPIC_ARNS (POST /hooks/ses)", setting("SES_TOPIC_ARNS"))) if on]
    if not started and not subscribed:
        return Result(name, True, "the newsletter is not in use" + (f"; configured: {', '.join(ways)}" if ways else ""))
    if not ways:
        return Result(name, False, f"the newsletter is in use ({started} issue(s) started, {subscribed} subscriber(s)) "
                      "but neither BOUNCE_ADDRESS nor SES_TOPIC_ARNS is set: bounces and complaints are ignored "
                      "(docs/deliverability.md)")
    return Result(name, True, f"bounces and complaints come back through {', '.join(ways)}")


def init_app(app: Flask) -> None:
    audit.register(app, check_newsletter_cap, 50)
    audit.register(app, check_bounce_handling, 110)
