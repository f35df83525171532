"""Newsletter: opt-in subscriptions, one-click unsubscribe, the monthly cap and a sender that
never sends the same issue twice to anyone."""

from __future__ import annotations

from typing import Any

from flask import Flask


def _on_signup(app: Flask, user: Any = None, newsletter: bool = False, **_: Any) -> None:
    # Inside the signup transaction: the opt-in is committed with the account or not at all.
    if newsletter and user is not None:
        from portal.newsletter.subscriptions import set_subscription

        set_subscription(user, True, "signup")


def _on_deleting(app: Flask, user: Any = None, **_: Any) -> None:
    if user is not None:
        from portal.newsletter.personal_data import erase

        erase(user)


# A suppression's reason, as the subscription history's source.
_SUPPRESSION_SOURCES = {"bounce": "bounce", "complaint": "complaint", "manual": "admin"}


def _on_suppressed(app: Flask, user: Any = None, reason: str = "", source: str = "", detail: str = "",
                   **_: Any) -> None:
    # Inside the suppression's transaction: the history shows why the newsletter stopped.
    if user is not None:
        from portal.newsletter.subscriptions import set_subscription

        set_subscription(user, False, _SUPPRESSION_SOURCES.get(reason, "admin"), note=f"suppressed: {detail}")


def init_app(app: Flask) -> None:
    """Register this area's blueprint, commands and hooks on the app."""
    from portal import mail, templating
    from portal.accounts import signals
    from portal.mail import inbound, suppression
    from portal.mail.worker import add_tick
    from portal.newsletter import audit, console_pages, console_send, console_stats, copies, models, personal_data  # noqa: F401 - views join the console's blueprint, models register their tables
    from portal.newsletter.cli import cli
    from portal.newsletter.console import bp as console_bp
    from portal.newsletter.schedule import tick
    from portal.newsletter.subscriptions import is_subscribed, unsubscribe_by_mail
    from portal.newsletter.views import bp

    app.register_blueprint(bp)
    app.register_blueprint(cli)
    app.register_blueprint(console_bp)
    add_tick(app, tick)  # scheduled issues start in the delivery workers, no cron
    audit.init_app(app)
    templating.register_fragment(app, "account.overview", "newsletter/_account.html")
    templating.register_fragment(app, "account.email", "newsletter/_account.html")
    # Weak references would let the receivers vanish; these are module-level functions anyway.
    signals.user_signed_up.connect(_on_signup, weak=False)
    signals.user_deleting.connect(_on_deleting, weak=False)
    suppression.address_suppressed.connect(_on_suppressed, weak=False)
    inbound.register_tag_handler("unsub", unsubscribe_by_mail)
    personal_data.register(app)
    mail.register_kind(app, copies.kind())
    mail.register_kinds(app, {"newsletter.test": "newsletter test copy"})
    app.jinja_env.globals["newsletter_subscribed"] = is_subscribed
