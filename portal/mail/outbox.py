"""Queueing a message: rendered and written to the ledger in the caller's transaction.

The request never talks to SMTP: ``enqueue`` adds a row to the session, the caller commits it with
the change that caused it (an account and its confirmation, a new password hash and its notice,
an inquiry and both its emails), and a delivery worker is woken once the commit has happened.
A rollback takes the message with it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import current_app, g, has_app_context, has_request_context, render_template
from sqlalchemy import event
from sqlalchemy.orm import Session

from portal import i18n
from portal.appctx import current_app_object
from portal.db import utcnow
from portal.extensions import db
from portal.mail import compose
from portal.mail.models import PENDING, PRIORITY_ACCOUNT, VOID, Delivery

WAKE_FLAG = "portal.mail.wake"
DECOY_ADDRESS = "nobody@invalid.example"


def render(to: str, subject: Any, template: str, *, reply_to: str | None = None,
           headers: Mapping[str, str] | None = None, auto_submitted: bool = True,
           language: str | None = None, **context: Any) -> compose.Composed:
    """``subject`` may be a lazy translation: it is read, like both parts, in ``language`` (the
    recipient's; None is the language of the request that causes the message)."""
    config = current_app.config
    with i18n.language_of(language=language):
        subject = str(subject)
        context.setdefault("site_name", config["SITE_NAME"])
        context.setdefault("base_url", config["BASE_URL"])
        context.setdefault("subject", subject)
        text = render_template(f"email/{template}.txt", **context)
        html = render_template(f"email/{template}.html", **context)
    return compose.compose(
        sender=str(config["MAIL_DEFAULT_SENDER"]), to=to, subject=subject, text=text, html=html,
        reply_to=reply_to, headers=headers, message_id_domain=message_id_domain(),
        auto_submitted=auto_submitted,
    )


def message_id_domain() -> str:
    # Our own domain, never the machine's host name (make_msgid's default is a reverse DNS look-up).
    return urlsplit(current_app.config["BASE_URL"]).hostname or "localhost"


def enqueue(to: str, subject: Any, template: str, *, kind: str, user_id: int | None = None,
            reply_to: str | None = None, headers: Mapping[str, str] | None = None,
            forget_address: bool = False, language: str | None = None, **context: Any) -> Delivery:
    """Render and queue one message in ``language``; the caller's commit makes it real."""
    composed = render(to, subject, template, reply_to=reply_to, headers=headers, language=language, **context)
    return _add(kind, PENDING, composed.envelope_to, composed.raw, composed, user_id, forget_address)


def enqueue_composed(composed: compose.Composed, *, kind: str, user_id: int | None = None) -> Delivery:
    """Queue a message built elsewhere (a newsletter test copy); the caller commits."""
    return _add(kind, PENDING, composed.envelope_to, composed.raw, composed, user_id, False)


def enqueue_decoy(subject: Any, template: str, *, kind: str, **context: Any) -> Delivery:
    """The same work as ``enqueue`` — rendering, a row of the same size, a commit, a wake-up — for
    a request whose answer must not tell whether the address has an account. The row holds no
    address and random bytes instead of a message; the engine deletes it unsent."""
    composed = render(DECOY_ADDRESS, subject, template, **context)
    return _add(kind, VOID, None, os.urandom(len(composed.raw)), composed, None, True)


def _add(kind: str, status: str, to: str | None, raw: bytes, composed: compose.Composed, user_id: int | None,
         forget_address: bool) -> Delivery:
    now = utcnow()
    row = Delivery(
        kind=kind, priority=PRIORITY_ACCOUNT, status=status, user_id=user_id, to_addr=to, raw=raw,
        smtputf8=composed.smtputf8, message_id=composed.message_id, forget_address=forget_address,
        created_at=now, next_attempt_at=now, updated_at=now,
        expires_at=now + timedelta(seconds=current_app.config["MAIL_RETRY_FOR"]),
    )
    db.session.add(row)
    db.session.info[WAKE_FLAG] = True
    return row


@event.listens_for(Session, "after_commit")
def _wake_after_commit(session: Session) -> None:
    if not (session.info.pop(WAKE_FLAG, False) and has_app_context()):
        return
    if has_request_context():
        # Woken once the response has gone out (portal.mail.init_app): the delivery must not
        # compete with the rest of this request, or a real message would make the answer slower
        # than a decoy's.
        g.portal_mail_wake = True
        return
    from portal.mail import worker

    worker.wake(current_app_object())


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop(WAKE_FLAG, None)
