"""The operator's console under ``/staff``: one blueprint; areas add their pages to it.

Everything here is 404 to anyone who is not staff (``access.staff_required``), and every action
staff take is written to an append-only log (``audit_log``).
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from portal import personal_data
    from portal.staff import audit_log, models, views

    app.register_blueprint(views.bp)
    personal_data.register(app, "staff", (models.StaffAction,), audit_log.export, audit_log.erase, order=900)
