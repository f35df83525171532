"""Newsletter pages: preferences, the one-click unsubscribe, and the public archive. Thin views."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required
from markupsafe import Markup

from portal import i18n
from portal.extensions import csrf
from portal.inputs import record_id
from portal.newsletter import issues, languages, subscriptions
from portal.newsletter.forms import PreferencesForm
from portal.newsletter.render import markdown_to_html
from portal.newsletter.subscriptions import SubscriptionError
from portal.translate import gettext as _

bp = Blueprint("newsletter", __name__, url_prefix="/newsletter")


@bp.route("", methods=["GET", "POST"])
@login_required
def preferences() -> ResponseReturnValue:
    form = PreferencesForm()
    if form.validate_on_submit():
        wanted = bool(form.subscribed.data)
        subscriptions.change(current_user, wanted, "preferences")
        flash(_("You are subscribed to the newsletter.") if wanted else _("You are unsubscribed from the newsletter."),
              "success")
        return redirect(url_for("newsletter.preferences"))
    if form.is_submitted():
        return render_template("newsletter/preferences.html", form=form, subscribed=False), 400
    subscribed = subscriptions.is_subscribed(current_user)
    form.subscribed.data = subscribed
    return render_template("newsletter/preferences.html", form=form, subscribed=subscribed,
                           confirmed=current_user.is_confirmed)


@bp.get("/unsubscribe/<token>")
def unsubscribe_page(token: str) -> ResponseReturnValue:
    # Mail scanners follow links: GET only shows the button, it never changes anything.
    try:
        subscriptions.user_for_token(token)
    except SubscriptionError as error:
        return render_template("newsletter/unsubscribe_invalid.html", message=str(error)), 400
    return render_template("newsletter/unsubscribe.html", token=token)


@bp.post("/unsubscribe/<token>")
@csrf.exempt  # RFC 8058 one-click: the mail client posts without our cookie or form token
def unsubscribe(token: str) -> ResponseReturnValue:
    # The signed token is the authorisation; the body (List-Unsubscribe=One-Click, urlencoded or
    # multipart) carries nothing we need, so it is accepted in either encoding and not required.
    try:
        subscriptions.unsubscribe_with_token(token)
    except SubscriptionError as error:
        return render_template("newsletter/unsubscribe_invalid.html", message=str(error)), 400
    return render_template("newsletter/unsubscribed.html")


@bp.get("/archive")
def archive() -> ResponseReturnValue:
    language = i18n.current_language()
    listed = [(issue, languages.text_for(issue, language)[0]) for issue in issues.archive()]
    return render_template("newsletter/archive.html", issues=listed)


@bp.get("/archive/<issue_id>")
def archived(issue_id: str) -> ResponseReturnValue:
    # Werkzeug's int converter reads other scripts' digits ("/archive/\u0661" would be issue 1):
    # only what our own links write is an id (portal.inputs), and 9 digits stay within int4.
    number = record_id(issue_id)
    issue = issues.archived_issue(number) if number is not None else None
    if issue is None:
        abort(404)
    subject, markdown = languages.text_for(issue, i18n.current_language())
    body = Markup(markdown_to_html(markdown))  # noqa: S704 - sanitised by nh3
    return render_template("newsletter/archived.html", issue=issue, subject=subject, body=body)
