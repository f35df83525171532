"""Sign-ins from a browser the account has not used before: recognised by a random device id.

The device cookie (``portal.cookies.DEVICE``) holds a random id; the database keeps its SHA-256
per account. A sign-in whose browser is not among the account's known ones sends a notice —
unless it is the account's very first sign-in. No location look-up: a third party would learn the IP.
"""

from __future__ import annotations

import hashlib
import logging
import secrets

from flask import Flask, Response, current_app, g, request
from sqlalchemy import func, select

from portal import cookies
from portal.accounts import sessions
from portal.accounts.devices import describe
from portal.accounts.models import User
from portal.accounts.requestinfo import Client, this_client
from portal.db import utcnow, write_transaction
from portal.extensions import db
from portal.mfa import notices
from portal.mfa.models import KnownBrowser

log = logging.getLogger("portal.mfa")


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


def _cookie_value() -> str | None:
    production = bool(current_app.config["PRODUCTION"])
    raw = request.cookies.get(cookies.DEVICE.name(production))
    return raw if raw and 20 <= len(raw) <= 100 and raw.isascii() else None


def note_sign_in(user_id: int, raw: str, client: Client) -> bool:
    """Remember this browser for the account; True when it was new (and a notice was queued)."""
    device_hash = _hash(raw)
    with write_transaction():
        user = db.session.get(User, user_id)
        if user is None:
            return False
        known = db.session.scalar(select(KnownBrowser).where(
            KnownBrowser.user_id == user_id, KnownBrowser.device_hash == device_hash))
        if known is not None:
            known.last_seen_at = utcnow()
            return False
        first = not db.session.scalar(select(func.count()).where(KnownBrowser.user_id == user_id))
        browser = describe(client.user_agent)
        db.session.add(KnownBrowser(user_id=user_id, device_hash=device_hash, description=browser[:128]))
        if not first:
            notices.new_browser(user.email, user_id, browser, client.ip)
    return not first


def _after_request(response: Response) -> Response:
    # Runs before accounts' own after_request (Flask calls them in reverse): the login cookie of
    # a session started in this request is still waiting in g.
    started = g.get("login_cookie")
    record = sessions.find_live_session(started) if isinstance(started, str) else None
    if record is None:
        return response
    raw = _cookie_value()
    fresh = raw is None
    if fresh:
        raw = secrets.token_urlsafe(32)
    try:
        note_sign_in(record.user_id, raw or "", this_client())
    except Exception:  # the sign-in itself succeeded; a notice must never turn it into an error
        db.session.rollback()
        log.exception("could not record the browser of a sign-in")
        return response
    if fresh:
        cookies.DEVICE.set(response, raw or "", production=bool(current_app.config["PRODUCTION"]),
                           max_age=cookies.DEVICE_MAX_AGE)
    return response


def init_app(app: Flask) -> None:
    app.after_request(_after_request)
