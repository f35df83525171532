"""Invariants the mutation pass (make mutants) showed no test pinned down.

Each test here kills mutants that survived the suite: code that could be broken - accepting any
password, exempting an attacker, forgetting a window - with every other test still green.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, insert, select, update

from portal.accounts import throttle
from portal.accounts.models import LoginAttempt, User
from portal.accounts.requestinfo import Client
from portal.db import utcnow
from portal.extensions import db
from tests.accounts_support import create_user, db_exec, db_rows, login, set_ip
from tests.helpers import PASSWORD

ATTACKER, OWNER = "203.0.113.66", "198.51.100.66"
CLIENT = Client("198.51.100.7", "test browser")


# --- a stored hash that is not a bcrypt hash never matches ----------------------------------

@pytest.mark.parametrize(
    "stored",
    [None, "", "not-a-hash", "$2b$04$", "$2b$04$" + "x" * 53, "$2b$99$" + "a" * 53, "é" * 60, "$argon2id$v=19$x",
     "\x00", "$2b$04$" + "." * 53],
)
def test_a_malformed_stored_hash_accepts_no_password(app, stored):
    from portal.security.passwords import verify_password

    with app.test_request_context("/"):
        for password in (PASSWORD, "", "x", "\x00", "é" * 10):
            assert verify_password(password, stored) is False


def test_a_real_hash_matches_its_password_only(app):
    from portal.security.passwords import hash_password, verify_password

    with app.test_request_context("/"):
        stored = hash_password(PASSWORD, rounds=4)
        assert verify_password(PASSWORD, stored) is True
        assert verify_password(PASSWORD + " ", stored) is False
        assert verify_password(PASSWORD[:-1], stored) is False


# --- the per-account throttle: exemption, reset, growth, window ----------------------------

def _key(app, email: str) -> str:
    with app.test_request_context("/"):
        return throttle.attempt_key(email)


def _add(app, key: str, ages: list[float], outcome: str = "failure", user_id: int | None = None,
         ip: str = ATTACKER) -> None:
    """Recorded attempts ``ages`` seconds old."""
    now = utcnow()
    for age in ages:
        db_exec(app, insert(LoginAttempt).values(
            ip=ip, email_key=key, user_id=user_id, success=outcome == "success", outcome=outcome,
            at=now - timedelta(seconds=age),
        ))


def _delay(app, key: str, user_id: int | None = None, ip: str = ATTACKER) -> int:
    with app.test_request_context("/"):
        user = db.session.get(User, user_id) if user_id is not None else None
        try:
            return throttle.delay_for(key, user, ip)
        finally:
            db.session.remove()


def _age_password(app, user_id: int, seconds: int = 7200) -> None:
    db_exec(app, update(User).where(User.id == user_id)
            .values(password_changed_at=utcnow() - timedelta(seconds=seconds)))


@pytest.mark.parametrize(("failures", "delay"), [(0, 0), (4, 0), (5, 2), (6, 4), (7, 8), (8, 16), (10, 64),
                                                 (13, 512), (14, 900), (30, 900)])
def test_the_wait_doubles_from_the_fifth_failure_up_to_15_minutes(app, failures, delay):
    key = _key(app, "grow@example.com")
    _add(app, key, [10.0] * (failures - 1) + [0.0] if failures else [])
    assert delay - 1 <= _delay(app, key) <= delay


def test_a_wait_that_has_passed_is_no_wait_but_100_failures_an_hour_are(app):
    key = _key(app, "passed@example.com")
    _add(app, key, [120.0] * 10)  # the 64 s wait after the tenth failure is over
    assert _delay(app, key) == 0
    _add(app, key, [600.0] * 90)
    assert _delay(app, key) == throttle.THROTTLE_MAX_DELAY  # the hourly cap, however old the last


def test_only_the_last_hour_counts(app):
    inside, outside = _key(app, "inside@example.com"), _key(app, "outside@example.com")
    _add(app, inside, [3500.0] * 5 + [0.0])
    _add(app, outside, [3700.0] * 5 + [0.0])
    assert 3 <= _delay(app, inside) <= 4  # six failures within the hour
    assert _delay(app, outside) == 0  # five of them older than an hour: one failure


def test_a_success_starts_the_count_over_for_that_address_only(app):
    reset, other = _key(app, "reset@example.com"), _key(app, "other@example.com")
    _add(app, reset, [30.0] * 6)
    _add(app, reset, [20.0], outcome="success")
    _add(app, reset, [0.0])
    assert _delay(app, reset) == 0  # one failure since the success
    _add(app, other, [30.0] * 6 + [0.0])
    _add(app, reset, [5.0], outcome="success")  # somebody else's success resets nothing here
    assert 7 <= _delay(app, other) <= 8


def test_the_known_address_exemption_belongs_to_the_account(app):
    victim = create_user(app, "victim@example.com")
    mine = create_user(app, "mine@example.com")
    for user_id in (victim, mine):
        _age_password(app, user_id)
    key = _key(app, "victim@example.com")
    # The attacker signed in to their own account from their address, then guesses the victim's.
    _add(app, _key(app, "mine@example.com"), [60.0], outcome="success", user_id=mine)
    _add(app, key, [10.0] * 5 + [0.0], user_id=victim)
    assert _delay(app, key, victim, ATTACKER) > 0
    # A failed attempt from the owner's address makes it no "known" address either.
    _add(app, key, [40.0], user_id=victim, ip=OWNER)
    assert _delay(app, key, victim, OWNER) > 0
    # Only a success on this account from this address exempts it.
    _add(app, _key(app, "mine@example.com"), [30.0], outcome="success", user_id=victim, ip=OWNER)
    assert _delay(app, key, victim, OWNER) == 0
    assert _delay(app, key, victim, ATTACKER) > 0


def test_a_password_change_starts_the_count_over(app):
    user_id = create_user(app, "changed@example.com")
    key = _key(app, "changed@example.com")
    _add(app, key, [300.0] * 5 + [0.0], user_id=user_id)
    db_exec(app, update(User).where(User.id == user_id).values(password_changed_at=utcnow()
                                                                - timedelta(seconds=200)))
    assert _delay(app, key, user_id) == 0  # only one failure since the change
    _age_password(app, user_id)
    assert _delay(app, key, user_id) > 0


# --- the consent cookie's attributes --------------------------------------------------------

@pytest.mark.parametrize("production", [False, True])
def test_the_consent_cookie_is_httponly_lax_and_lives_as_configured(make_app, production):
    from flask import Response

    from portal.consent import registry, state

    settings = {"CONSENT_MAX_AGE_DAYS": 30}
    if production:
        settings.update(ENV="production", BASE_URL="https://portal.example")
    app = make_app(**settings)
    with app.test_request_context("/"):
        response = Response()
        decision = state.Decision(state.new_consent_id(), registry.revision(), frozenset(), utcnow())
        state.write_cookie(response, decision)
        [header] = response.headers.getlist("Set-Cookie")
        assert state.decode(header.split(";")[0].split("=", 1)[1]) == decision.__class__(
            decision.consent_id, decision.revision, frozenset(), decision.decided_at.replace(microsecond=0))
    parts = [p.strip() for p in header.split(";")]
    assert parts[0].startswith("__Host-consent=" if production else "portal_consent=")
    assert "HttpOnly" in parts and "SameSite=Lax" in parts and "Path=/" in parts
    assert f"Max-Age={30 * 86400}" in parts
    assert ("Secure" in parts) is production
    assert not any(p.lower().startswith("domain=") for p in parts)  # __Host- forbids a Domain


# --- the address fingerprint in the confirmation link ---------------------------------------

def test_a_confirmation_link_confirms_only_the_address_it_was_sent_to(app, smtp):
    from portal.accounts import service
    from portal.security.tokens import make_token

    user_id = create_user(app, "first@example.com", confirmed=False)
    with app.test_request_context("/"):
        old_link = service.confirmation_token(db.session.get(User, user_id))
        forged = make_token("confirm", {"uid": user_id, "e": "0" * 16})
        missing = make_token("confirm", {"uid": user_id})
        db.session.remove()
    db_exec(app, update(User).where(User.id == user_id).values(email="second@example.com",
                                                               email_key="second@example.com"))
    client = app.test_client()
    for token in (old_link, forged, missing):
        assert client.get(f"/confirm/{token}").status_code == 400
    assert db_rows(app, select(User.confirmed_at).where(User.id == user_id))[0].confirmed_at is None
    with app.test_request_context("/"):
        good = service.confirmation_token(db.session.get(User, user_id))
        db.session.remove()
    assert client.get(f"/confirm/{good}").status_code == 302


# --- erasure takes the attempts made before the account existed -----------------------------

def test_erasure_removes_login_attempts_from_before_the_signup(app, smtp):
    from portal.privacy.rights import erase_user

    for email in ("early@example.com", "Early@Example.com", "bystander@example.com"):
        login(set_ip(app.test_client(), ATTACKER), email, "a guess before the account existed")
    user_id = create_user(app, "early@example.com")
    key, bystander = _key(app, "early@example.com"), _key(app, "bystander@example.com")
    login(set_ip(app.test_client(), OWNER), "early@example.com", PASSWORD)
    with app.test_request_context("/"):
        erase_user(db.session.get(User, user_id))
        db.session.remove()
    remaining = db_rows(app, select(LoginAttempt.email_key, func.count()).group_by(LoginAttempt.email_key))
    assert dict(remaining) == {bystander: 1}
    assert key not in dict(remaining)


# --- the dummy check for unknown addresses is real bcrypt work at the configured cost -----

def test_the_dummy_check_spends_one_real_bcrypt_check_at_the_configured_cost(make_app, monkeypatch):
    from portal.security import passwords
    from tests.accounts_support import bcrypt_spy

    app = make_app(BCRYPT_ROUNDS=5)
    monkeypatch.setattr(passwords, "_dummy_hashes", {})
    with app.test_request_context("/"), bcrypt_spy(monkeypatch) as spy:
        assert passwords.dummy_verify("whatever") is None
        passwords.dummy_verify("something else")
        assert spy.costs == [5, 5]  # a real check each time, at the configured cost...
        assert spy.hashpw_costs == [5]  # ...against one dummy hash made once


# --- Referer-based redirects stay on the site -----------------------------------------------

@pytest.mark.parametrize(
    ("referrer", "expected"),
    [
        (None, "/fallback"), ("", "/fallback"),
        ("http://localhost/cookies", "/cookies"), ("http://localhost/cookies?next=%2Fa&b=1", "/cookies?next=%2Fa&b=1"),
        ("http://localhost", "/"), ("/privacy", "/privacy"), ("http://evil.example/cookies", "/fallback"),
        ("https://localhost.evil.example/x", "/fallback"), ("http://localhost//evil.example", "/fallback"),
        ("http://localhost/\\evil", "/fallback"), ("javascript:alert(1)", "/fallback"),
    ],
)
def test_same_site_referrer(app, referrer, expected):
    from portal.security.redirects import same_site_referrer

    headers = {"Referer": referrer} if referrer is not None else {}
    with app.test_request_context("/consent", headers=headers, base_url="http://localhost"):
        assert same_site_referrer("/fallback") == expected


# --- the proxy's scheme and host count from a trusted proxy ---------------------------------

def test_a_trusted_proxy_passes_on_scheme_host_and_client(make_app):
    from flask import request

    app = make_app(TRUSTED_PROXY_COUNT=1)

    @app.get("/_seen")
    def seen() -> str:
        return f"{request.scheme} {request.host} {request.remote_addr}"

    headers = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "portal.example"}
    trusted = app.test_client().get("/_seen", headers=headers, environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert trusted.get_data(as_text=True) == "https portal.example 203.0.113.9"
    direct = app.test_client().get("/_seen", headers=headers, environ_base={"REMOTE_ADDR": "198.51.100.9"})
    assert direct.get_data(as_text=True) == "http localhost 198.51.100.9"


# --- server-side sessions: exact deadlines, counts, re-authentication -----------------------

def _session_row(app, user_id: int, created_ago: float, seen_ago: float, now) -> int:
    from portal.accounts.models import LoginSession

    with app.app_context():
        record = LoginSession(token_hash=f"{user_id}-{created_ago}-{seen_ago}".ljust(64, "0"), user_id=user_id,
                              created_at=now - timedelta(seconds=created_ago),
                              last_seen_at=now - timedelta(seconds=seen_ago), ip="127.0.0.1", user_agent="t")
        db.session.add(record)
        db.session.commit()
        record_id = record.id
        db.session.remove()
    return record_id


def test_purge_removes_sessions_exactly_at_their_deadlines(make_app):
    from portal.accounts import sessions
    from portal.accounts.models import LoginSession

    app = make_app(SESSION_IDLE_TIMEOUT=600, SESSION_MAX_AGE=3600)
    user_id = create_user(app, "deadline@example.com")
    now = utcnow()
    idle_due = _session_row(app, user_id, created_ago=1000, seen_ago=600, now=now)
    age_due = _session_row(app, user_id, created_ago=3600, seen_ago=0, now=now)
    alive = _session_row(app, user_id, created_ago=3599, seen_ago=599, now=now)
    with app.test_request_context("/"):
        assert sessions.purge_expired(now=now) == 2
        db.session.remove()
    assert [r.id for r in db_rows(app, select(LoginSession.id))] == [alive]
    assert idle_due != age_due


def test_ending_all_other_sessions_counts_what_it_ended(make_app):
    from portal.accounts import sessions
    from portal.accounts.models import LoginSession

    app = make_app()
    user_id = create_user(app, "count@example.com")
    now = utcnow()
    keep = _session_row(app, user_id, 10, 1, now)
    for i in range(2):
        _session_row(app, user_id, 20 + i, 2, now)
    with app.test_request_context("/"):
        user, kept = db.session.get(User, user_id), db.session.get(LoginSession, keep)
        assert sessions.end_all_sessions(user, keep=kept) == 2
        assert sessions.end_all_sessions(user, keep=kept) == 0
        db.session.remove()


def test_recent_reauthentication_is_bounded_exactly(app, monkeypatch):
    from portal.accounts import sessions
    from portal.accounts.models import LoginSession

    now = utcnow()
    monkeypatch.setattr(sessions, "utcnow", lambda: now)
    assert sessions.recently_reauthenticated(None, 300) is False
    assert sessions.recently_reauthenticated(LoginSession(reauthenticated_at=None), 300) is False
    assert sessions.recently_reauthenticated(LoginSession(reauthenticated_at=now - timedelta(seconds=300)), 300)
    assert not sessions.recently_reauthenticated(LoginSession(reauthenticated_at=now - timedelta(seconds=301)), 300)


# --- small contracts: token errors say why, decisions allow what was granted ---------------

def test_a_token_error_carries_its_reason():
    from portal.security.tokens import TokenError

    error = TokenError("expired")
    assert error.reason == "expired" and str(error) == "expired"


def test_a_consent_decision_allows_necessary_always_and_the_rest_only_as_granted(app):
    from portal.consent import registry, state

    with app.test_request_context("/"):
        current = state.Decision("a" * 32, registry.revision(), frozenset({"analytics"}), utcnow())
        stale = state.Decision("a" * 32, "0" * 16, frozenset({"analytics"}), utcnow())
        assert current.allows(registry.NECESSARY) and stale.allows(registry.NECESSARY)
        assert current.allows("analytics") and not current.allows("chat")
        assert not stale.allows("analytics")


def test_sessions_die_exactly_at_their_deadlines(make_app):
    from portal.accounts import sessions
    from portal.accounts.models import LoginSession

    app = make_app(SESSION_IDLE_TIMEOUT=600, SESSION_MAX_AGE=3600)
    now = utcnow()
    with app.test_request_context("/"):
        def record(created_ago: float, seen_ago: float) -> LoginSession:
            return LoginSession(created_at=now - timedelta(seconds=created_ago),
                                last_seen_at=now - timedelta(seconds=seen_ago))

        assert sessions.is_expired(record(100, 600), now) and not sessions.is_expired(record(100, 599.999), now)
        assert sessions.is_expired(record(3600, 0), now) and not sessions.is_expired(record(3599.999, 0), now)


def test_live_sessions_come_most_recently_used_first(make_app):
    from portal.accounts import sessions

    app = make_app()
    user_id = create_user(app, "order@example.com")
    now = utcnow()
    ids = [_session_row(app, user_id, created_ago=500, seen_ago=seen, now=now) for seen in (30, 10, 20)]
    with app.test_request_context("/"):
        listed = [r.id for r in sessions.live_sessions(db.session.get(User, user_id))]
        assert sessions.purge_expired(now=now) == 0  # nothing is due: nothing counted
        db.session.remove()
    assert listed == [ids[1], ids[2], ids[0]]


def test_token_errors_name_what_was_wrong(app):
    from portal.security.tokens import MAX_TOKEN_LENGTH, TokenError, make_token, read_token

    with app.test_request_context("/"):
        good = make_token("confirm", {"uid": 1})
        cases = {
            "malformed": [None, 5, "", "x" * (MAX_TOKEN_LENGTH + 1)],
            "invalid": ["x" * MAX_TOKEN_LENGTH, good[:-2] + "xx", make_token("reset", {"uid": 1}), "abc.def"],
        }
        for reason, tokens in cases.items():
            for token in tokens:
                with pytest.raises(TokenError) as caught:
                    read_token("confirm", token, 3600)  # type: ignore[arg-type]
                assert caught.value.reason == reason, token
        assert read_token("confirm", good, 3600) == {"uid": 1}


def test_two_trusted_proxies_take_the_second_address_from_the_right(make_app):
    from flask import request

    app = make_app(TRUSTED_PROXY_COUNT=2)

    @app.get("/_seen")
    def seen() -> str:
        return f"{request.scheme} {request.remote_addr}"

    headers = {"X-Forwarded-For": "192.0.2.1, 203.0.113.9, 10.0.0.2", "X-Forwarded-Proto": "https, http"}
    response = app.test_client().get("/_seen", headers=headers, environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert response.get_data(as_text=True) == "https 203.0.113.9"


def test_session_ids_carry_256_bits_and_hash_any_string(app):
    from portal.accounts import sessions

    with app.test_request_context("/"):
        raw = sessions.start_session(db.session.get(User, create_user(app, "bits@example.com")), CLIENT)
        db.session.remove()
    assert len(raw) == 43  # token_urlsafe(32): 32 random bytes
    digest = sessions._hash("\ud800 not valid UTF-8 on its own")  # a cookie can carry one
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert sessions._hash("a") != sessions._hash("b")


@pytest.mark.parametrize(
    ("idle_timeout", "seen_ago", "touched"),
    [(100, 10.0, True), (100, 9.5, False), (100000, 60.0, True), (100000, 60.5, True), (100000, 59.5, False)],
)
def test_last_seen_is_written_once_per_grain(make_app, monkeypatch, idle_timeout, seen_ago, touched):
    from portal.accounts import sessions
    from portal.accounts.models import LoginSession

    app = make_app(SESSION_IDLE_TIMEOUT=idle_timeout, SESSION_MAX_AGE=idle_timeout * 2)
    user_id = create_user(app, "grain@example.com")
    with app.test_request_context("/"):
        raw = sessions.start_session(db.session.get(User, user_id), CLIENT)
        db.session.remove()
    [(record_id, seen)] = db_rows(app, select(LoginSession.id, LoginSession.last_seen_at))
    later = seen + timedelta(seconds=seen_ago)
    monkeypatch.setattr(sessions, "utcnow", lambda: later)
    with app.test_request_context("/"):
        assert sessions.find_live_session(raw).id == record_id
        db.session.remove()
    [(after,)] = db_rows(app, select(LoginSession.last_seen_at))
    assert (after == later) is touched and (after == seen) is not touched


def test_small_contracts_of_the_password_helpers(app):
    from portal.security.client import user_agent
    from portal.security.passwords import hash_rounds

    assert hash_rounds("$2b$07$" + "a" * 53) == 7
    assert hash_rounds("garbage") == 0 and hash_rounds("$2b$xx$") == 0
    with app.test_request_context("/", headers={"User-Agent": ""}):
        assert user_agent() == ""
    misuse = r"^check_password needs a user or the typed address's key$"
    with pytest.raises(ValueError, match=misuse), app.test_request_context("/"):
        throttle.check_password(None, "x", "192.0.2.1")


def test_attempt_keys_are_keyed_by_the_secret_and_take_any_string(make_app):
    first, second = make_app(), make_app(SECRET_KEY="another-secret-key-that-is-long-enough-0123456789")
    keys = [_key(app, "same@example.com") for app in (first, second)]
    assert keys[0] != keys[1]  # without the secret, a stored key cannot be matched to an address
    assert len(_key(first, "\ud800@example.com")) == 64


def test_passwords_depend_on_the_pepper_and_take_any_string(make_app):
    from portal.security.passwords import hash_password, verify_password

    apps = [make_app(PASSWORD_PEPPER="pepper-one-0123456789"), make_app(PASSWORD_PEPPER="pepper-two-0123456789"),
            make_app(), make_app(SECRET_KEY="another-secret-key-that-is-long-enough-0123456789")]
    hashes = []
    for app in apps:
        with app.test_request_context("/"):
            hashes.append(hash_password(PASSWORD, rounds=4))
    for i, app in enumerate(apps):
        with app.test_request_context("/"):
            assert [verify_password(PASSWORD, h) for h in hashes] == [j == i for j in range(len(apps))]
    with apps[0].test_request_context("/"):
        odd = "\ud800 lone surrogate"
        assert verify_password(odd, hash_password(odd, rounds=4))


def test_the_gate_reports_and_records_each_refusal_exactly(app):
    user_id = create_user(app, "gate@example.com")
    _age_password(app, user_id)
    key = _key(app, "gate@example.com")
    with app.test_request_context("/", environ_base={"REMOTE_ADDR": ATTACKER}):
        user = db.session.get(User, user_id)
        nobody = _key(app, "nobody@example.com")
        assert throttle.check_password(None, "x", ATTACKER, nobody) == throttle.PasswordCheck(False)
        assert throttle.check_password(user, "wrong", ATTACKER) == throttle.PasswordCheck(False)
        assert throttle.check_password(user, PASSWORD, ATTACKER) == throttle.PasswordCheck(True)
        for _ in range(4):
            throttle.check_password(user, "wrong", ATTACKER)
        refused = throttle.check_password(user, PASSWORD, ATTACKER)
        assert refused.ok is False and refused.retry_after > 0
        db.session.remove()
    rows = db_rows(app, select(LoginAttempt.user_id, LoginAttempt.outcome).where(LoginAttempt.email_key == key)
                   .order_by(LoginAttempt.id))
    assert rows == [(user_id, "failure")] * 5 + [(user_id, "throttled")]


def test_attempts_at_the_moment_of_a_reset_do_not_count(app):
    user_id = create_user(app, "tie@example.com")
    key = _key(app, "tie@example.com")
    changed = utcnow() - timedelta(seconds=30)
    db_exec(app, update(User).where(User.id == user_id).values(password_changed_at=changed))
    for _ in range(5):
        db_exec(app, insert(LoginAttempt).values(ip=ATTACKER, email_key=key, user_id=user_id, success=False,
                                                 outcome="failure", at=changed))
    _add(app, key, [0.0], user_id=user_id)
    assert _delay(app, key, user_id) == 0  # one failure after the change; the five at it are before


@pytest.mark.parametrize(
    ("target", "expected"),
    [("/a b", "/a b"), ("/X", "/X"), ("/" + "a" * 2047, "/" + "a" * 2047), ("/" + "a" * 2048, "/d"), (5, "/d"),
     (None, "/d"), ("", "/d"), ("/\x1f", "/d"), ("/a\\b", "/d"), ("//evil.example", "/d"), ("http://x/", "/d"),
     ("a/b", "/d"), ("/ok?next=/x", "/ok?next=/x")],
)
def test_safe_path_bounds(target, expected):
    from portal.security.redirects import safe_path

    assert safe_path(target, "/d") == expected


def test_the_login_cookie_lives_for_session_max_age(make_app):
    app = make_app(SESSION_MAX_AGE=7200)
    create_user(app, "cookie@example.com")
    response = login(set_ip(app.test_client(), OWNER), "cookie@example.com", PASSWORD)
    [header] = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("portal_sid=")]
    parts = [p.strip() for p in header.split(";")]
    assert "Max-Age=7200" in parts and "HttpOnly" in parts and "SameSite=Lax" in parts
