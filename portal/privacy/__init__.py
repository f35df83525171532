"""Privacy: the policy page, inquiries, export and erasure, retention purge, and the audit."""

from __future__ import annotations

from flask import Flask

from portal import ratelimit, templating
from portal.config import ENV_PREFIX, ConfigError, is_rate_limit
from portal.i18n import N_
from portal.translate import lazy_gettext as _l


def init_app(app: Flask) -> None:
    from portal import mail, personal_data
    from portal.privacy import account_views, audit, cli, inquiries, models, views

    _check_settings(app)
    audit.init_app(app)
    templating.register_fragment(app, "account.data", "privacy/_account.html")
    app.register_blueprint(views.bp)
    app.register_blueprint(account_views.bp)
    app.register_blueprint(cli.cli)
    # Password guesses on export and erasure count like sign-in attempts; inquiries have their own budget.
    for endpoint in ("privacy_account.export", "privacy_account.delete"):
        ratelimit.limit(
            app, endpoint, "LOGIN_RATE_LIMIT", _l("There have been too many password checks from your network.")
        )
    ratelimit.limit(app, "privacy.contact", "INQUIRY_RATE_LIMIT",
                    _l("Too many messages were sent from your network in a short time."))
    personal_data.register(app, "inquiries", (models.Inquiry,), inquiries.export, inquiries.erase, order=500)
    personal_data.register_retention(
        app, N_("answered data-protection inquiries"), inquiries.purge_answered, "INQUIRY_RETENTION_DAYS"
    )
    mail.register_kinds(app, {"privacy.dpo": "inquiry to the DPO", "privacy.ack": "inquiry acknowledgement"})


def _check_settings(app: Flask) -> None:
    # portal.config validates the core limits; ours is checked here, with the same message shape.
    rate = app.config.get("INQUIRY_RATE_LIMIT")
    if not is_rate_limit(rate):
        raise ConfigError(f"{ENV_PREFIX}INQUIRY_RATE_LIMIT: not a rate limit like '5 per hour', got {rate!r}")
