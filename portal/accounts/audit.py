"""The accounts' promises in ``flask privacy audit``: session lifetime, bcrypt, the login limit, IP retention."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import func, or_, select

from portal import audit
from portal.accounts.models import User
from portal.audit import Result, setting
from portal.config import is_rate_limit
from portal.extensions import db

POLICY_IDLE_TIMEOUT = 6 * 3600  # "the session ID expires after … about 6 hours"
MIN_BCRYPT_ROUNDS = 12
BCRYPT_PREFIXES = ("$2b$", "$2a$", "$2y$")


def check_session_timeout() -> Result:
    value = setting("SESSION_IDLE_TIMEOUT")
    if not isinstance(value, int) or value <= 0:
        return Result("session-idle-timeout", False, f"SESSION_IDLE_TIMEOUT is not a number of seconds: {value!r}")
    ok = value <= POLICY_IDLE_TIMEOUT
    verdict = "within" if ok else "longer than"
    return Result(
        "session-idle-timeout", ok, f"SESSION_IDLE_TIMEOUT={value} s is {verdict} the policy's 6 hours (21600 s)"
    )


def check_password_hashing() -> Result:
    rounds = setting("BCRYPT_ROUNDS")
    if not isinstance(rounds, int) or rounds < MIN_BCRYPT_ROUNDS:
        reason = f"BCRYPT_ROUNDS={rounds} is below the minimum cost {MIN_BCRYPT_ROUNDS}"
        return Result("password-hashing", False, reason)
    # Counted in SQL: the audit must stay cheap with a million accounts.
    is_bcrypt = or_(*(User.password_hash.startswith(prefix, autoescape=True) for prefix in BCRYPT_PREFIXES))
    total = db.session.scalar(select(func.count()).select_from(User)) or 0
    foreign = db.session.scalar(select(func.count()).where(~is_bcrypt)) or 0
    if foreign:
        return Result("password-hashing", False, f"{foreign} stored password(s) are not bcrypt hashes")
    # "$2b$12$…": the cost is two zero-padded digits, so text comparison orders them correctly.
    weak = db.session.scalar(select(func.count()).where(func.substr(User.password_hash, 5, 2) < f"{rounds:02d}")) or 0
    note = f"; {weak} older hash(es) below cost {rounds} are upgraded at the next sign-in" if weak else ""
    return Result("password-hashing", True, f"bcrypt cost {rounds}; all {total} stored hash(es) are bcrypt{note}")


def check_login_limit() -> Result:
    name = "login-rate-limit"
    rate = setting("LOGIN_RATE_LIMIT")
    if not is_rate_limit(rate):
        return Result(name, False, f"LOGIN_RATE_LIMIT does not parse: {rate!r}")
    if setting("RATELIMIT_ENABLED") is False:
        return Result(name, False, "RATELIMIT_ENABLED is false: no login limit is enforced")
    storage = str(setting("RATELIMIT_STORAGE_URI") or "memory://")
    workers = setting("WORKER_PROCESSES") or 1
    if isinstance(workers, int) and workers > 1 and storage.startswith("memory://"):
        return Result(
            name, False, f"{workers} worker processes each count on their own (memory://): use a shared redis:// store"
        )
    where = storage.split("://", 1)[0] + "://"
    return Result(name, True, f"'{rate}' per IP, counted in {where} for {workers} worker process(es)")


def check_ip_retention() -> Result:
    value = setting("LOGIN_IP_RETENTION_DAYS")
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        return Result("ip-retention", False, f"LOGIN_IP_RETENTION_DAYS is not set to a number of days: {value!r}")
    return Result("ip-retention", True, f"login IP addresses are purged after {value} days")


def init_app(app: Flask) -> None:
    audit.register(app, check_session_timeout, 10)
    audit.register(app, check_password_hashing, 20)
    audit.register(app, check_login_limit, 30)
    audit.register(app, check_ip_retention, 60)
