"""The policy page, the data-protection contact form and the staff's inquiry desk."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from portal.db import utcnow
from portal.mfa.staff import second_factor_gate
from portal.privacy import inquiries, policy
from portal.privacy.forms import InquiryForm, PostForm
from portal.privacy.inquiries import InquiryError
from portal.privacy.models import TOPICS

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
    # 404, not 403: the desk's existence is nobody else's business.
    if not (current_user.is_authenticated and getattr(current_user, "is_admin", False)):
        abort(404)
    # The same second-factor gate as every page under /staff (portal.mfa.staff).
    answer = second_factor_gate(current_user)
    if answer is not None:
        abort(answer)


@bp.get("/privacy/inquiries")
def desk() -> str:
    _require_admin()
    return render_template(
        "privacy/inquiries.html",
        open_items=inquiries.open_inquiries(),
        answered=inquiries.recent_answered(),
        now=utcnow(),
    )


@bp.post("/privacy/inquiries/<reference>/answered")
def answered(reference: str) -> ResponseReturnValue:
    _require_admin()
    if not PostForm().validate_on_submit():
        abort(400)
    try:
        inquiry = inquiries.mark_answered(reference)
    except InquiryError as error:
        flash(str(error), "error")
    else:
        flash(f"{inquiry.reference} is marked answered.", "success")
    return redirect(url_for("privacy.desk"), 303)
