"""Cookie consent: the service registry, the banner, /consent, /cookies and the proof of consent."""

from flask import Flask


def init_app(app: Flask) -> None:
    from portal import personal_data
    from portal.consent import models, page, registry, service
    from portal.consent.views import bp

    registry.init_app(app)  # validates the configured services; a bad one stops start-up
    app.register_blueprint(bp)
    app.before_request(page.allow_granted_sources)
    app.context_processor(page.context)
    personal_data.register("consent", (models.ConsentRecord,), service.export, service.erase, order=100)
    personal_data.register_retention(
        "consent records past their proof period", service.purge_expired_records, "CONSENT_PROOF_RETENTION_DAYS"
    )
