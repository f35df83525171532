"""A person with a long history, written straight into the tables, and a log of every SQL statement."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import event, insert

from portal.db import utcnow
from portal.extensions import db

AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def add_history(app: Any, user_id: int, rows: int, *, start_seconds: int = 60) -> None:
    """``rows`` live sessions, sign-ins, consent records and newsletter changes for ``user_id``,
    one every 30 s going back from ``start_seconds`` ago (so the newest come first by time)."""
    from portal.accounts.models import LoginAttempt, LoginSession
    from portal.consent.models import ConsentRecord, ConsentSnapshot
    from portal.newsletter.models import SubscriptionEvent

    with app.app_context():
        now = utcnow()
        snapshot = ConsentSnapshot(digest=secrets.token_hex(32), revision="0" * 16, banner_text="t",
                                   registry_json="{}", policy_name="t", policy_text="t")
        db.session.add(snapshot)
        db.session.flush()
        times = [now - timedelta(seconds=start_seconds + 30 * i) for i in range(rows)]
        if rows:
            db.session.execute(insert(LoginSession), [
                {"token_hash": hashlib.sha256(secrets.token_bytes(16)).hexdigest(), "user_id": user_id,
                 "created_at": t, "last_seen_at": t, "ip": f"192.0.2.{i % 250 + 1}", "user_agent": AGENT}
                for i, t in enumerate(times)])
            db.session.execute(insert(LoginAttempt), [
                {"at": t, "ip": f"198.51.100.{i % 250 + 1}", "user_id": user_id, "email_key": "0" * 64,
                 "success": True, "outcome": "success"} for i, t in enumerate(times)])
            db.session.execute(insert(ConsentRecord), [
                {"consent_id": secrets.token_hex(16), "decided_at": t, "expires_at": t + timedelta(days=180),
                 "action": "reject_all" if i % 2 else "accept_all", "granted": "" if i % 2 else "analytics,chat",
                 "refused": "", "revision": "0" * 16, "snapshot_id": snapshot.id, "via": "form",
                 "user_id": user_id} for i, t in enumerate(times)])
            db.session.execute(insert(SubscriptionEvent), [
                {"user_id": user_id, "at": t, "subscribed": i % 2 == 0, "source": "preferences", "note": ""}
                for i, t in enumerate(times)])
        db.session.commit()
        db.session.remove()


@contextmanager
def statements(app: Any) -> Iterator[list[tuple[str, Any]]]:
    """Every statement the app's engine sends while the block runs: (SQL, parameters)."""
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        seen.append((statement, parameters))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)
