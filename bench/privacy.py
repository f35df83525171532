"""Privacy benchmarks (not tests): purge throughput, export and erasure of a busy account.

Usage: .venv/bin/python bench/privacy.py [ROWS] [DATABASE_URL]
Defaults: 50000 rows on a throw-away SQLite file. Prints wall-clock seconds per operation.
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert

from portal import create_app
from portal.accounts.models import LoginAttempt, LoginSession, User
from portal.db import utcnow
from portal.extensions import db
from portal.privacy import rights
from portal.privacy.models import Inquiry
from portal.security.passwords import hash_password


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    folder = Path(tempfile.mkdtemp())
    url = sys.argv[2] if len(sys.argv) > 2 else f"sqlite:///{folder / 'bench.sqlite3'}"
    app = create_app({"INSTANCE_PATH": str(folder), "DATABASE_URL": url, "SECRET_KEY": "b" * 48, "BCRYPT_ROUNDS": 4})
    with app.app_context():
        db.drop_all()
        db.create_all()
        now = utcnow()
        user = User(email="busy@example.com", email_key="busy@example.com", password_hash=hash_password("p" * 16),
                    confirmed_at=now)
        db.session.add(user)
        db.session.commit()
        # Half the attempts are past LOGIN_IP_RETENTION_DAYS (90), half are recent.
        db.session.execute(insert(LoginAttempt), [
            {"at": now - timedelta(days=200 if n % 2 else 1, seconds=n), "ip": f"10.0.{n // 256 % 256}.{n % 256}",
             "user_id": user.id, "email_key": "k", "success": False, "outcome": "failure"} for n in range(rows)
        ])
        db.session.execute(insert(Inquiry), [
            {"reference": f"DP-B{n:07d}", "topic": "other", "email": "busy@example.com",
             "email_key": "busy@example.com",
             "message": "m", "created_at": now - timedelta(days=400), "due_at": now - timedelta(days=370),
             "status": "answered", "answered_at": now - timedelta(days=369 if n % 2 else 1), "dpo_notified": True,
             "redact_on_close": False} for n in range(rows // 10)
        ])
        db.session.add(LoginSession(token_hash="x" * 64, user_id=user.id, ip="10.9.9.9"))
        db.session.commit()

        runner = app.test_cli_runner()
        started = time.perf_counter()
        output = runner.invoke(args=["privacy", "purge"]).output
        print(f"purge of {rows} attempts + {rows // 10} inquiries: {time.perf_counter() - started:.2f} s")
        print("  " + output.strip().replace("\n", "\n  "))
        started = time.perf_counter()
        runner.invoke(args=["privacy", "purge"])
        print(f"second purge (nothing to do): {time.perf_counter() - started:.2f} s")

        started = time.perf_counter()
        size = len(rights.export_json(user))
        print(f"export of an account with {rows // 2} attempts: {time.perf_counter() - started:.2f} s, {size} bytes")
        started = time.perf_counter()
        rights.erase_user(user)
        print(f"erasure of that account: {time.perf_counter() - started:.2f} s")
        started = time.perf_counter()
        result = runner.invoke(args=["privacy", "audit"])
        print(f"audit: {time.perf_counter() - started:.2f} s (exit {result.exit_code})")


if __name__ == "__main__":
    main()
