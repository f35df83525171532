"""Passwords: HMAC pre-hash + bcrypt at BCRYPT_ROUNDS, whole-password semantics, rules, rehash."""

from __future__ import annotations

import unicodedata

import bcrypt
import pytest
from sqlalchemy import select

from portal.accounts.models import User
from portal.accounts.password_policy import password_problem
from tests.accounts_support import (
    create_user,
    db_rows,
    login,
    set_ip,
)
from tests.helpers import PASSWORD, post_form

PREFIX = "Quiet rivers carry old maps toward the harbour where gulls argue about bread crumbs "  # 86 chars


def _hash_of(app, email):
    return db_rows(app, select(User.password_hash).where(User.email_key == email))[0].password_hash


def test_hash_is_bcrypt_at_the_configured_cost_over_a_peppered_prehash(make_app, smtp):
    app = make_app(BCRYPT_ROUNDS=5)
    create_user(app, "pat@example.com")
    stored = _hash_of(app, "pat@example.com")
    assert stored.startswith("$2b$05$") and len(stored) == 60
    assert PASSWORD not in stored
    # Not plain bcrypt of the password: the HMAC pre-hash (keyed by the pepper) comes first...
    assert not bcrypt.checkpw(PASSWORD.encode(), stored.encode())
    # ...so the same password under another pepper does not verify.
    other = make_app(BCRYPT_ROUNDS=5, PASSWORD_PEPPER="a-completely-different-pepper-value")
    assert login(other.test_client(), "pat@example.com").status_code == 400
    assert login(app.test_client(), "pat@example.com").status_code == 302


def test_a_1024_character_password_works_and_1025_is_refused_with_a_reason(app, smtp):
    long_password = (PREFIX * 13)[:1024]
    response = post_form(app.test_client(), "/signup", {"email": "long@example.com", "password": long_password})
    assert response.status_code == 303
    create_user(app, "long2@example.com", long_password)
    assert login(app.test_client(), "long2@example.com", long_password).status_code == 302
    assert login(app.test_client(), "long2@example.com", long_password[:-1] + "!").status_code == 400
    too_long = post_form(app.test_client(), "/signup", {"email": "long3@example.com", "password": long_password + "x"})
    assert too_long.status_code == 400 and "at most 1024 characters" in too_long.get_data(as_text=True)


def test_passwords_longer_than_72_bytes_count_to_the_last_character(app, smtp):
    first, second = PREFIX + "ending one", PREFIX + "ending two"
    assert len(first.encode()) > 72 and first[:72] == second[:72]
    create_user(app, "tail@example.com", first)
    assert login(set_ip(app.test_client(), "192.0.2.1"), "tail@example.com", second).status_code == 400
    assert login(set_ip(app.test_client(), "192.0.2.2"), "tail@example.com", first).status_code == 302
    # Multi-byte characters: 30 of them are 90 bytes, and only the last one differs.
    emoji_first, emoji_second = "😀" * 29 + "🐘 plus words", "😀" * 29 + "🦒 plus words"
    create_user(app, "emoji@example.com", emoji_first)
    assert login(set_ip(app.test_client(), "192.0.2.3"), "emoji@example.com", emoji_second).status_code == 400
    assert login(set_ip(app.test_client(), "192.0.2.4"), "emoji@example.com", emoji_first).status_code == 302


def test_unicode_passwords_verify_in_any_nfkc_equivalent_form(app, smtp):
    # Full-width letters and digits (as some keyboards produce them), written as escapes.
    typed = "".join(chr(ord(c) + 0xFEE0) if c.isascii() and c.isalnum() else c for c in "Crème brûlée for dinner 2024")
    nfkc = unicodedata.normalize("NFKC", typed)
    nfd = unicodedata.normalize("NFD", nfkc)
    assert len({typed, nfkc, nfd}) == 3
    response = post_form(app.test_client(), "/signup", {"email": "uni@example.com", "password": typed})
    assert response.status_code == 303
    create_user(app, "uni2@example.com", typed)
    for i, variant in enumerate((typed, nfkc, nfd)):
        assert login(set_ip(app.test_client(), f"192.0.2.{i + 10}"), "uni2@example.com", variant).status_code == 302
    assert login(app.test_client(), "uni2@example.com", nfkc.replace("è", "e")).status_code == 400


@pytest.mark.parametrize(
    "password, reason",
    [
        ("short pass", "at least 12 characters"),
        ("passwordpassword", "Try a longer phrase"),
        ("123456789012", "Try a longer phrase"),
        ("qwertyuiopasdf", "Try a longer phrase"),
        ("correct horse battery\x00staple", "control or unassigned character"),
        ("correct horse battery\x1bstaple", "control or unassigned character"),
        ("correct horse\u200b battery staple", None),  # a format character is printable enough
    ],
)
def test_new_password_rules_give_the_reason(app, smtp, password, reason):
    response = post_form(app.test_client(), "/signup", {"email": "rules@example.com", "password": password})
    page = response.get_data(as_text=True)
    if reason is None:
        assert response.status_code == 303, page
    else:
        assert response.status_code == 400 and reason in page
        assert smtp.messages == []


def test_password_that_contains_the_email_is_weak():
    problem = password_problem("rules@example.com2024", ["rules@example.com", "rules"])
    assert problem is not None and "Try a longer phrase" in problem
    assert password_problem("zebra crossing at midnight softly") is None
    assert password_problem(" " * 12) is not None


def test_signup_form_allows_paste_and_offers_a_show_password_toggle(client):
    page = client.get("/signup").get_data(as_text=True)
    assert "onpaste" not in page and "data-show-toggle" in page and 'autocomplete="new-password"' in page
    assert 'src="/static/accounts.js?v=' in page
    script = client.get("/static/accounts.js")
    assert "Show password" in script.get_data(as_text=True)
    script.close()


def test_rehash_on_login_when_the_cost_was_raised(make_app, smtp):
    old = make_app(BCRYPT_ROUNDS=4)
    create_user(old, "rex@example.com")
    assert _hash_of(old, "rex@example.com").startswith("$2b$04$")
    new = make_app(BCRYPT_ROUNDS=5)
    assert login(new.test_client(), "rex@example.com", "wrong password, no upgrade").status_code == 400
    assert _hash_of(new, "rex@example.com").startswith("$2b$04$")
    assert login(new.test_client(), "rex@example.com").status_code == 302
    upgraded = _hash_of(new, "rex@example.com")
    assert upgraded.startswith("$2b$05$")
    assert login(new.test_client(), "rex@example.com").status_code == 302
    assert _hash_of(new, "rex@example.com") == upgraded  # no needless re-hashing
    # Lowering the cost never downgrades a hash.
    assert login(old.test_client(), "rex@example.com").status_code == 302
    assert _hash_of(old, "rex@example.com") == upgraded
