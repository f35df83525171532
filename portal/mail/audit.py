"""Mail in ``flask privacy audit``: a real mail server, and DKIM in production."""

from __future__ import annotations

from flask import Flask, current_app

from portal import audit
from portal.audit import Result, setting


def check_mail_server() -> Result:
    server = setting("MAIL_SERVER")
    if not server:
        return Result("mail-server", False, "MAIL_SERVER is not set: email is only written to instance/outbox/")
    return Result("mail-server", True, f"MAIL_SERVER is {server}:{setting('MAIL_PORT')}")


def check_dkim() -> Result:
    """Gmail and Yahoo require DKIM of bulk senders (2024): production must sign."""
    from portal.mail.dkim_signing import KeyProblem, signer_for

    name = "dkim"
    try:
        signer = signer_for(current_app.config)
    except KeyProblem as problem:
        return Result(name, False, f"DKIM_PRIVATE_KEY_FILE: {problem}")
    if signer is None:
        verdict = setting("ENV") != "production"
        return Result(name, verdict, "DKIM_DOMAIN, DKIM_SELECTOR and DKIM_PRIVATE_KEY_FILE are not set: mail is "
                      "not signed" + ("" if not verdict else " (required in production)"))
    return Result(name, True, f"every message is signed for d={signer.domain.decode()} "
                  f"s={signer.selector.decode()}, List-Unsubscribe included")


def init_app(app: Flask) -> None:
    audit.register(app, check_mail_server, 100)
    audit.register(app, check_dkim, 120)
