"""Account domain logic, callable without HTTP: signup, confirmation, login, reset, changes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal import addresses, mail
from portal.accounts import sessions, signals, throttle
from portal.accounts.models import LoginAttempt, LoginSession, User
from portal.accounts.password_policy import password_problem
from portal.accounts.requestinfo import Client
from portal.accounts.throttle import attempt_key
from portal.addresses import MAX_EMAIL_LENGTH, AddressError, email_key, lookup_key
from portal.appctx import current_app_object
from portal.db import utcnow, write_transaction
from portal.extensions import db
from portal.links import external_url
from portal.security.passwords import hash_password, needs_rehash
from portal.security.tokens import TokenError, make_token, read_token
from portal.translate import gettext as _
from portal.translate import lazy_gettext as _l

CONFIRM_MAX_AGE = 48 * 3600
RESET_MAX_AGE = 3600
EMAIL_CHANGE_MAX_AGE = 48 * 3600


class AccountError(ValueError):
    """A request the person can fix; the message is safe to show."""


__all__ = ["MAX_EMAIL_LENGTH", "AccountError", "email_key", "lookup_key", "normalise_email"]


# --- email addresses (the rules live in portal.addresses, shared by every area) ---------------


def normalise_email(raw: str) -> str:
    try:
        return addresses.normalise_email(raw)
    except AddressError as error:
        raise AccountError(str(error)) from None


def find_user(raw_email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email_key == lookup_key(raw_email)))


# --- tokens ----------------------------------------------------------------------------------


def _fingerprint(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:16]


# What a decoy token carries: a fingerprint of nothing, for an account id that never exists.
_DECOY = hashlib.sha256(b"decoy").hexdigest()[:16]


def confirmation_token(user: User) -> str:
    return make_token("confirm", {"uid": user.id, "e": _fingerprint(user.email_key)})


def reset_token(user: User) -> str:
    # Bound to the current password hash: any password change (including this reset) kills it.
    return make_token("reset", {"uid": user.id, "pw": _fingerprint(user.password_hash)})


def email_change_token(user: User, new_email: str) -> str:
    return make_token("email-change", {"uid": user.id, "cur": _fingerprint(user.email_key), "new": new_email})


link = external_url  # every link in account mail is built from its route


# --- signup and confirmation -----------------------------------------------------------------


def signup(raw_email: str, password: str, newsletter: bool = False) -> None:
    """Create an account or, if the address is taken, tell its owner; the caller cannot tell which."""
    email = normalise_email(raw_email)
    problem = password_problem(password, [email, email.split("@")[0], current_app.config["SITE_NAME"]])
    if problem:
        raise AccountError(problem)
    # Both outcomes pay the same bcrypt work, so timing does not tell the address is registered;
    # it happens before the write lock so signups do not queue behind each other's hashing.
    password_hash = hash_password(password)
    # The account and its confirmation email are committed together or not at all.
    with write_transaction():
        existing = db.session.scalar(select(User).where(User.email_key == email_key(email)))
        if existing is None:
            user = User(email=email, email_key=email_key(email), password_hash=password_hash)
            try:
                with db.session.begin_nested():
                    db.session.add(user)
            except IntegrityError:
                # Lost a race with a concurrent signup for the same address: treat as existing.
                existing = db.session.scalar(select(User).where(User.email_key == email_key(email)))
            else:
                signals.user_signed_up.send(current_app_object(), user=user, newsletter=newsletter)
                send_confirmation(user)
                return
        if existing is None:
            return  # the concurrent signup was rolled back after all: nothing to tell anyone
        if existing.is_confirmed:
            mail.enqueue(
                existing.email,
                _l("Someone tried to sign up at %(site)s with your address", site=current_app.config["SITE_NAME"]),
                "signup_exists",
                kind="account.signup-exists",
                user_id=existing.id,
                language=existing.language,
                login_url=link("accounts.login"),
                reset_url=link("accounts.reset_request"),
            )
        else:
            send_confirmation(existing)


def send_confirmation(user: User) -> None:
    """Queue the confirmation email in the current transaction; the caller commits."""
    mail.enqueue(
        user.email,
        _l("Confirm your email address for %(site)s", site=current_app.config["SITE_NAME"]),
        "confirm",
        kind="account.confirm",
        user_id=user.id,
        language=user.language,
        confirm_url=link("accounts.confirm", token=confirmation_token(user)),
        hours=CONFIRM_MAX_AGE // 3600,
    )


def _queue_or_decoy(recipient: User | None, subject: Any, template: str, kind: str, **context: Any) -> None:
    """A real message for ``recipient``, or the same work without one (see mail.enqueue_decoy):
    the answer takes as long whether or not the address has an account."""
    # Read before the write phase: on SQLite it commits, which would expire the user and cost the
    # real case one more query than the decoy (a timing difference of its own).
    address, user_id, language = ((recipient.email, recipient.id, recipient.language) if recipient is not None
                                  else (None, None, None))
    with write_transaction():
        if address is not None:
            mail.enqueue(address, subject, template, kind=kind, user_id=user_id, language=language, **context)
        else:
            mail.enqueue_decoy(subject, template, kind=kind, **context)


def resend_confirmation(raw_email: str) -> None:
    user = find_user(raw_email)
    recipient = user if user is not None and not user.is_confirmed else None
    _queue_or_decoy(
        recipient,
        _l("Confirm your email address for %(site)s", site=current_app.config["SITE_NAME"]),
        "confirm",
        "account.confirm",
        confirm_url=link("accounts.confirm", token=confirmation_token(recipient) if recipient is not None
                         else make_token("confirm", {"uid": 0, "e": _DECOY})),
        hours=CONFIRM_MAX_AGE // 3600,
    )


def confirm(token: str) -> User:
    try:
        payload = read_token("confirm", token, CONFIRM_MAX_AGE)
    except TokenError as error:
        raise AccountError(_token_message(error, "confirmation")) from None
    with write_transaction():  # read and change under the lock: a link used twice at once confirms once
        user = _user_from_payload(payload)
        if user is None or payload.get("e") != _fingerprint(user.email_key):
            raise AccountError(_("This confirmation link is not valid. Request a new one below."))
        if user.is_confirmed:
            raise AccountError(_("This address is already confirmed; the link cannot be used again. Please sign in."))
        user.confirmed_at = utcnow()
        signals.user_confirmed.send(current_app_object(), user=user)
    return user


def _user_from_payload(payload: object, lock: bool = False) -> User | None:
    if not isinstance(payload, dict) or not isinstance(payload.get("uid"), int):
        return None
    if not lock:
        return db.session.get(User, payload["uid"])
    # FOR UPDATE waits for a concurrent writer on PostgreSQL and re-reads its result
    # (populate_existing bypasses the stale identity map); SQLite relies on write_lock instead.
    return db.session.scalar(
        select(User).where(User.id == payload["uid"]).with_for_update().execution_options(populate_existing=True)
    )


def _token_message(error: TokenError, kind: str) -> str:
    # One whole sentence per kind of link: a translator sees each as it is read.
    expired = error.reason == "expired"
    if kind == "confirmation":
        return (_("This confirmation link has expired. Please request a new one.") if expired else
                _("This confirmation link is not valid. Check that you copied the whole link, or request a new one."))
    if kind == "password reset":
        return (_("This password reset link has expired. Please request a new one.") if expired else
                _("This password reset link is not valid. Check that you copied the whole link, or request a new one."))
    return (_("This email confirmation link has expired. Please request a new one.") if expired else
            _("This email confirmation link is not valid. Check that you copied the whole link, or request a new one."))


# --- login -----------------------------------------------------------------------------------

@dataclass
class LoginResult:
    user: User | None = None
    outcome: str = "failure"  # success | failure | unconfirmed | throttled
    retry_after: int = 0
    session_token: str = ""  # the new session's raw id, for the cookie (success only)


def authenticate(raw_email: str, password: str, client: Client) -> LoginResult:
    ip = client.ip
    key = attempt_key(raw_email)
    user = find_user(raw_email)
    check = throttle.check_password(user, password, ip, key)
    if check.retry_after:
        return LoginResult(outcome="throttled", retry_after=check.retry_after)
    if user is None or not check.ok:
        return LoginResult(outcome="failure")
    if not user.is_confirmed:
        _record_attempt(ip, key, user, "unconfirmed")
        return LoginResult(user=user, outcome="unconfirmed")
    upgraded = hash_password(password) if needs_rehash(user.password_hash) else None
    _record_attempt(ip, key, user, "success", upgraded)
    return LoginResult(user=user, outcome="success")


def _record_attempt(ip: str, key: str, user: User | None, outcome: str, new_hash: str | None = None) -> None:
    with write_transaction():
        if user is not None and new_hash is not None:
            user.password_hash = new_hash
        db.session.add(
            LoginAttempt(
                ip=ip,
                email_key=key,
                user_id=user.id if user else None,
                success=outcome == "success",
                outcome=outcome,
            )
        )


def login(raw_email: str, password: str, client: Client) -> LoginResult:
    result = authenticate(raw_email, password, client)
    if result.outcome == "success" and result.user is not None:
        result.session_token = sessions.start_session(result.user, client)
    return result


# --- password reset and changes ----------------------------------------------------------------


def request_reset(raw_email: str) -> None:
    user = find_user(raw_email)
    _queue_or_decoy(
        user,
        _l("Reset your %(site)s password", site=current_app.config["SITE_NAME"]),
        "reset",
        "account.reset",
        # The decoy signs a token too (for no account), so both cases do the same work.
        reset_url=link("accounts.reset_password",
                       token=reset_token(user) if user is not None else make_token("reset", {"uid": 0, "pw": _DECOY})),
        minutes=RESET_MAX_AGE // 60,
    )


def user_for_reset(token: str, lock: bool = False) -> User:
    try:
        payload = read_token("reset", token, RESET_MAX_AGE)
    except TokenError as error:
        raise AccountError(_token_message(error, "password reset")) from None
    user = _user_from_payload(payload, lock=lock)
    if user is None or payload.get("pw") != _fingerprint(user.password_hash):
        raise AccountError(
            _("This password reset link has already been used or is no longer valid. Please request a new one.")
        )
    return user


def reset_password(token: str, new_password: str) -> User:
    new_hash = _new_password_hash(user_for_reset(token), new_password)
    with write_transaction():
        # Again, under the lock (SQLite) / with the row locked and re-read (PostgreSQL): two
        # submissions of one link at once make one reset.
        user = user_for_reset(token, lock=True)
        user.password_hash, user.password_changed_at = new_hash, utcnow()
        if not user.is_confirmed:
            # The link reached the inbox, which is what confirmation proves.
            user.confirmed_at = utcnow()
            signals.user_confirmed.send(current_app_object(), user=user)
        _notify_password_changed(user)
    sessions.end_all_sessions(user)
    return user


def change_password(user: User, current_password: str, new_password: str, keep: LoginSession | None,
                    ip: str) -> None:
    if not throttle.password_ok(user, current_password, ip):
        raise AccountError(_("Your current password is not correct."))
    new_hash = _new_password_hash(user, new_password)
    with write_transaction():
        user.password_hash, user.password_changed_at = new_hash, utcnow()
        _notify_password_changed(user)
    sessions.end_all_sessions(user, keep=keep)


def _new_password_hash(user: User, new_password: str) -> str:
    problem = password_problem(new_password, [user.email, user.email.split("@")[0], current_app.config["SITE_NAME"]])
    if problem:
        raise AccountError(problem)
    return hash_password(new_password)


def _notify_password_changed(user: User) -> None:
    """Queued with the new hash, in the same transaction: no change without its notice."""
    mail.enqueue(
        user.email,
        _l("Your %(site)s password was changed", site=current_app.config["SITE_NAME"]),
        "password_changed",
        kind="account.password-changed",
        user_id=user.id,
        language=user.language,
        reset_url=link("accounts.reset_request"),
    )


def request_email_change(user: User, password: str, raw_new_email: str, ip: str) -> None:
    if not throttle.password_ok(user, password, ip):
        raise AccountError(_("Your password is not correct."))
    new_email = normalise_email(raw_new_email)
    if email_key(new_email) == user.email_key:
        raise AccountError(_("That is already your address."))
    with write_transaction():
        taken = db.session.execute(select(User.id, User.language).where(User.email_key == email_key(new_email))).first()
        if taken:
            # Do not reveal that the address has an account; tell its owner instead.
            # In its owner's language, not the requester's.
            mail.enqueue(
                new_email,
                _l("Someone tried to use your address at %(site)s", site=current_app.config["SITE_NAME"]),
                "email_taken",
                kind="account.email-taken",
                user_id=taken.id,
                language=taken.language,
            )
        else:
            mail.enqueue(
                new_email,
                _l("Confirm your new email address for %(site)s", site=current_app.config["SITE_NAME"]),
                "email_change",
                kind="account.email-change",
                user_id=user.id,
                language=user.language,
                confirm_url=link("accounts.confirm_email_change", token=email_change_token(user, new_email)),
                hours=EMAIL_CHANGE_MAX_AGE // 3600,
            )


def confirm_email_change(token: str) -> User:
    try:
        payload = read_token("email-change", token, EMAIL_CHANGE_MAX_AGE)
    except TokenError as error:
        raise AccountError(_token_message(error, "email confirmation")) from None
    try:
        with write_transaction():
            user = _user_from_payload(payload)
            new_email = payload.get("new") if isinstance(payload, dict) else None
            if user is None or not isinstance(new_email, str) or payload.get("cur") != _fingerprint(user.email_key):
                raise AccountError(_("This link has already been used or is no longer valid."))
            old_email = user.email
            user.email, user.email_key = new_email, email_key(new_email)
            mail.enqueue(
                old_email,
                _l("Your %(site)s email address was changed", site=current_app.config["SITE_NAME"]),
                "email_changed",
                kind="account.email-changed",
                user_id=user.id,
                language=user.language,
                new_email=new_email,
                contact_url=link("privacy.contact"),
            )
    except IntegrityError:
        raise AccountError(_("That address is now used by another account.")) from None
    return user


def create_admin(raw_email: str, password: str) -> User:
    email = normalise_email(raw_email)
    with write_transaction():
        user = db.session.scalar(select(User).where(User.email_key == email_key(email)))
        if user is None:
            problem = password_problem(password, [email])
            if problem:
                raise AccountError(problem)
            user = User(email=email, email_key=email_key(email), password_hash=hash_password(password))
            user.confirmed_at = utcnow()
            db.session.add(user)
        user.is_admin = True
    return user
