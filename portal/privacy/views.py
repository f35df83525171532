"""The policy page, the data-protection contact form and the staff's inquiry desk."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from portal.privacy import inquiries, policy
from portal.privacy.forms import InquiryForm
from portal.privacy.inquiries import InquiryError
from portal.privacy.models import TOPICS
from portal.staff.access import is_staff

bp = Blueprint("privacy", __name__)


@bp.get("/privacy")
def policy_page() -> str:
    return render_template(
        "privacy/policy.html",
        blocks=policy.blocks(),
        periods=policy.retention_periods(),
        effective_date=policy.EFFECTIVE_DATE,
    )


@bp.route("/privacy/contact", methods=["GET", "POST"])
def contact() -> ResponseReturnValue:
    form = InquiryForm()
    if not form.is_submitted() and current_user.is_authenticated:
        form.email.data = current_user.email
    if form.validate_on_submit():
        user = current_user if current_user.is_authenticated else None
        try:
            inquiry = inquiries.submit(form.email.data, form.topic.data, form.message.data, user=user)
        except InquiryError as error:
            form.form_errors.append(str(error))
        else:
            return render_template("privacy/contact_sent.html", inquiry=inquiry)
    status = 400 if form.is_submitted() else 200
    return render_template("privacy/contact.html", form=form, topics=TOPICS), status


def _require_admin() -> None:
    # 404, not 403: the desk's existence is nobody else's business. The console's own gates
    # (a second factor) apply where this redirects to.
    if not is_staff(current_user):
        abort(404)


@bp.get("/privacy/inquiries")
def desk() -> ResponseReturnValue:
    """The old address of the inquiry desk (kept for links in DPO emails): the console's desk now."""
    _require_admin()
    return redirect(url_for("staff_desk.inquiries"), 301)
