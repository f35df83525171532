"""The operator's console under ``/staff``: one blueprint; areas add their pages to it.

Everything here is 404 to anyone who is not staff (``access.staff_required``), and every action
staff take is written to an append-only log (``audit_log``).
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from portal import mail, personal_data
    from portal.extensions import csrf
    from portal.staff import (
        audit_log,
        breach_views,
        desk,
        desk_views,
        models,
        people_views,
        personal,
        report_views,
        views,
    )

    app.register_blueprint(views.bp)
    for module in (desk_views, breach_views, people_views, report_views):
        # The app-wide CSRF check runs before any view and would answer a stranger's POST with
        # 400, telling them the URL exists; these views check the token in their own form
        # (FlaskForm.validate_on_submit) after staff_required has answered 404 to non-staff.
        csrf.exempt(module.bp)
        app.register_blueprint(module.bp)
    mail.register_kinds(app, desk.KINDS)
    personal_data.register(app, "staff", (models.StaffAction,), audit_log.export, audit_log.erase, order=900)
    # Before the inquiries (order 500): a closed case's replies go with its text.
    personal_data.register(app, "staff console", (models.StaffAccess, models.CaseFile), personal.export,
                           personal.erase, order=450)
