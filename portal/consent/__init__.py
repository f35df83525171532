"""Cookie consent: the service registry, the banner, /consent, /cookies and the proof of consent."""

from flask import Flask

from portal import ratelimit, templating
from portal.i18n import N_
from portal.translate import lazy_gettext as _l


def init_app(app: Flask) -> None:
    from portal import personal_data
    from portal.consent import audit, banner, models, page, registry, service
    from portal.consent.views import bp

    registry.init_app(app)  # validates the configured services; a bad one stops start-up
    banner.init_app(app)
    app.register_blueprint(bp)
    audit.init_app(app)
    templating.register_fragment(app, "head", "consent/_head.html")
    templating.register_fragment(app, "banner", "consent/_banner.html")
    # Every decision is a row of proof; a generous per-client cap keeps a script from filling the table.
    ratelimit.limit(app, "consent.decide", "30 per minute", _l("Too many cookie choices were sent from your network."))
    app.before_request(page.allow_granted_sources)
    app.context_processor(page.context)
    personal_data.register(app, "consent", (models.ConsentRecord,), service.export, service.erase, order=100)
    personal_data.register_retention(
        app, N_("consent records past their proof period"), service.purge_expired_records,
        "CONSENT_PROOF_RETENTION_DAYS"
    )
