"""Mail: one delivery engine for every message the portal sends.

A message is rendered and written to the ledger (``portal.mail.models.Delivery``) in the
transaction of the change that causes it (``enqueue``); delivery workers — a thread in each web
process and ``flask mail deliver`` — hand it to the mail server with SMTP's real semantics
(``transport``), retrying temporary failures for days and never resending one whose outcome is
uncertain. Without ``MAIL_SERVER`` the messages become .eml files in ``instance/outbox/``.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from flask import Flask, Response, g

from portal.mail.kinds import Kind
from portal.mail.kinds import register as register_kind
from portal.mail.kinds import register_labels as register_kinds
from portal.mail.outbox import enqueue, enqueue_decoy

__all__ = ["Kind", "enqueue", "enqueue_decoy", "init_app", "register_kind", "register_kinds"]


def init_app(app: Flask) -> None:
    from portal.mail import audit, console, feedback_models, hooks, models, personal_data  # noqa: F401 - the models register their tables
    from portal.mail import settings as mail_settings
    from portal.mail.cli import cli
    from portal.mail.worker import wake, worker_for

    mail_settings.check(app)
    app.config.setdefault("MAIL_OUTBOX_FOLDER", Path(app.instance_path) / "outbox")
    app.register_blueprint(cli)
    app.register_blueprint(console.bp)
    hooks.init_app(app)
    personal_data.register(app)
    audit.init_app(app)

    # The web process's delivery thread starts with the first request it serves (after any fork).
    @app.before_request
    def _start_delivery_thread() -> None:
        if app.config["MAIL_WORKER_THREADS"]:
            worker_for(app).ensure_started()

    @app.after_request
    def _wake_when_sent(response: Response) -> Response:
        # A request queued mail: wake this process's delivery thread once the response is closed.
        if g.pop("portal_mail_wake", False):
            response.call_on_close(partial(wake, app))
        return response
