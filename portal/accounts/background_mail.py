"""Delivery off the request thread for emails whose sending would tell whether an account exists.

A reset or resend request for a registered address sends an email, one for an unknown
address does not. Delivered inline, the SMTP round trip (milliseconds to seconds) would make
the answer measurably slower for registered addresses. The message is rendered in the request
(both cases do the same rendering) and handed to a short-lived thread.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from flask import current_app

from portal import mail

log = logging.getLogger("portal.accounts.mail")

_pending: set[threading.Thread] = set()
_lock = threading.Lock()


def send_later(to: str | None, subject: str, template: str, **context: Any) -> None:
    """Render now; deliver in the background. ``to=None`` renders the same message and drops it."""
    message = mail.render_message(to or "nobody@invalid.example", subject, template, **context)
    if to is None:
        return
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def deliver() -> None:
        try:
            with app.app_context():
                mail.send(message)
        except Exception:  # logged, not raised: nobody is waiting for this thread
            log.exception("The %s email could not be delivered", template)
        finally:
            with _lock:
                _pending.discard(threading.current_thread())

    # Not a daemon: a worker shutting down still finishes what it accepted.
    thread = threading.Thread(target=deliver, name=f"mail-{template}", daemon=False)
    with _lock:
        _pending.add(thread)
    thread.start()


def wait_for_deliveries(timeout: float = 10.0) -> bool:
    """Block until every background delivery is done (tests, orderly shutdown); False on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        with _lock:
            threads = list(_pending)
        if not threads:
            return True
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if time.monotonic() >= deadline:
            with _lock:
                return not _pending
