"""Routes: POST /consent records a decision, GET /cookies shows the policy and the choice."""

from __future__ import annotations

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from werkzeug.wrappers import Response

from portal import cookies as portal_cookies
from portal.consent import page, registry, service, state
from portal.errors import render_error
from portal.security.redirects import safe_path, same_site_referrer
from portal.translate import gettext as _

bp = Blueprint("consent", __name__)


def _wants_json() -> bool:
    # The banner script asks for JSON; a plain form post gets a redirect.
    return request.accept_mimetypes.best == "application/json"



@bp.post("/consent")
def decide() -> ResponseReturnValue:
    action = request.form.get("action", "")
    next_path = safe_path(request.form.get("next"), default=same_site_referrer())
    if next_path.split("?")[0] == url_for("consent.decide"):
        next_path = "/"  # there is no page at /consent to go back to
    if action == "settings":
        return redirect(url_for("consent.cookies", next=next_path), 303)
    if action not in service.ACTIONS:
        return render_error(400, "Please choose Accept all, Reject all, or save your choice of categories.")
    chosen = [c for c in registry.OPTIONAL_CATEGORIES if request.form.get(c)]
    # The panel's per-service switches come with a marker, so "none switched on" differs from a
    # form that has no such switches (the choice is then per category alone).
    switched_on = request.form.getlist("service") if request.form.get("per_service") else None
    before = page.tags_for(state.granted_categories(), state.services_off()).services
    user_id = current_user.id if current_user.is_authenticated else None
    decision = service.record_decision(
        action, chosen, previous=state.cookie_decision(), user_id=user_id,
        via="script" if _wants_json() else "form", switched_on=switched_on,
    )
    refused = [c for c in registry.OPTIONAL_CATEGORIES if c not in decision.granted]
    after = page.tags_for(decision.granted, decision.off).services
    response: Response
    if _wants_json():
        # The script inserts the newly granted tags in place (giving them its page's nonce). A
        # withdrawn category's code is already running and only a fresh page stops it: reload.
        reload = bool(set(before) - set(after))
        added = page.tags_of(() if reload else tuple(s for s in after if s not in before),
                             decision.granted - state.granted_categories())
        response = jsonify({
            "status": "ok",
            "granted": sorted(decision.granted),
            "reload": reload,
            "tags": render_template("consent/_tags.html", consent_tags=added).strip(),
        })
    else:
        flash(_("Your cookie choice is saved. You can change it at any time under “Cookie settings”."), "success")
        response = redirect(next_path, 303)
    state.write_cookie(response, decision)
    refused_names = service.cookies_to_expire(refused, request.cookies.keys(), decision.off)
    portal_cookies.expire_foreign(response, service.expired_cookies(refused_names, request.host))
    return response


def cookie_rows(reg: registry.Registry, category: str) -> list[tuple[registry.CookieSpec, list[str]]]:
    """Each cookie of a category once, with every service that sets it (GA4 and GTM share _ga)."""
    rows: dict[str, tuple[registry.CookieSpec, list[str]]] = {}
    for service_ in reg.services:
        if service_.category != category:
            continue
        for cookie in service_.cookies:
            _spec, titles = rows.setdefault(cookie.name, (cookie, []))
            if service_.title not in titles:
                titles.append(service_.title)
    return list(rows.values())


@bp.get("/cookies")
def cookies() -> str:
    reg = registry.registry()
    return render_template(
        "consent/cookies.html",
        registry=reg,
        categories=reg.categories_in_use(),
        labels=registry.CATEGORIES,
        decision=state.current_decision(),
        granted=state.granted_categories(),
        off=state.services_off(),
        next_path=safe_path(request.args.get("next"), default=url_for("consent.cookies")),
        cookie_rows={c: cookie_rows(reg, c) for c in reg.categories_in_use()},
        gpc=page.gpc_signal(),
    )
