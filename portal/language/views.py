"""``POST /language``: remember the chosen language, then go back to the page it was chosen on."""

from __future__ import annotations

from flask import Blueprint, current_app, redirect
from flask.typing import ResponseReturnValue
from flask_login import current_user

from portal import cookies, i18n
from portal.errors import render_error
from portal.language.forms import LanguageForm
from portal.language.service import remember
from portal.security.redirects import safe_path, same_site_referrer

bp = Blueprint("language", __name__)


@bp.post("/language")
def choose() -> ResponseReturnValue:
    form = LanguageForm()
    code = i18n.offered(form.language.data)
    if not form.validate_on_submit() or code is None:
        return render_error(400, str(i18n.LIBRARY_MESSAGES.get("The CSRF token is missing."))
                            if form.errors.get("csrf_token") else None)
    if current_user.is_authenticated:
        remember(current_user, code)
    # The page the switcher sat on, without a ?lang= that would override the new choice.
    target = safe_path(form.next.data, default=same_site_referrer())
    response = redirect(i18n.without_language_parameter(target), code=303)
    cookies.LANGUAGE.set(response, code, production=bool(current_app.config["PRODUCTION"]),
                         max_age=cookies.LANGUAGE_MAX_AGE)
    return response
