"""``POST /language``: remember the chosen language, then go back to the page it was chosen on."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, redirect, request
from flask.typing import ResponseReturnValue
from flask_login import current_user

from portal import cookies, i18n
from portal.errors import render_error
from portal.extensions import csrf
from portal.language.forms import LanguageForm
from portal.language.service import remember
from portal.security.redirects import safe_path, same_site_referrer
from portal.translate import gettext as _

bp = Blueprint("language", __name__)


def from_our_pages() -> bool:
    """The post was sent by a page of this site (see portal.language.forms)."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.headers.get("Origin") or request.headers.get("Referer")
    if not origin or origin == "null":
        return False
    return urlsplit(origin).netloc == request.host


@bp.post("/language")
@csrf.exempt
def choose() -> ResponseReturnValue:
    if not from_our_pages():
        return render_error(400, _("This form was not sent from this site."))
    form = LanguageForm()
    code = i18n.offered(form.language.data)
    if not form.validate_on_submit() or code is None:
        return render_error(400, _("Please choose one of the languages offered."))
    if current_user.is_authenticated:
        remember(current_user, code)
    # The page the switcher sat on, without a ?lang= that would outvote the new choice.
    target = safe_path(form.next.data, default=same_site_referrer())
    response = redirect(i18n.without_language_parameter(target), code=303)
    cookies.LANGUAGE.set(response, code, production=bool(current_app.config["PRODUCTION"]),
                         max_age=cookies.LANGUAGE_MAX_AGE)
    return response
