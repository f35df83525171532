"""Ids in forms: Unicode whitespace and other scripts' digits are refused cleanly, never a 500.

``int()`` strips Unicode whitespace and reads Arabic-Indic digits, and raises on whitespace alone:
an id field that passes its value to ``int()`` answered 500 to ``session_id=+`` (a space).
"""

from __future__ import annotations

import pytest

from portal.inputs import record_id
from tests.helpers import csrf_token
from tests.privacy_support import registered_client

# "+" is a space in a form body; the others are whitespace to str.strip() and int().
WHITESPACE = [" ", "\t", "\u3000", "\u0085", "\u2028", "\n", "\r\n", "\x0b", "\x1c", "\xa0"]
NOT_ASCII_DIGITS = ["\u0661", "\u0967", "\uff11", "1\u3000", " 1", "1\n", "1_0", "+1", "\u00b2"]


@pytest.mark.parametrize("value", WHITESPACE + NOT_ASCII_DIGITS + ["", "0" * 10, "abc", None, 7])
def test_record_id_accepts_nothing_but_ascii_digits(value):
    assert record_id(value) is None


@pytest.mark.parametrize("value", ["0", "1", "42", "999999999", "007"])
def test_record_id_reads_plain_ids(value):
    assert record_id(value) == int(value)


@pytest.mark.parametrize("value", WHITESPACE + NOT_ASCII_DIGITS)
@pytest.mark.parametrize("field", ["session_id", "all_others"])
def test_whitespace_and_foreign_digits_in_revoke_are_refused(app, smtp, field, value):
    client = registered_client(app, smtp, "ws@example.com")
    token = csrf_token(client, "/account/sessions")
    response = client.post("/account/sessions/revoke", data={"csrf_token": token, field: value})
    assert response.status_code in (302, 303)
    assert client.get("/account").status_code == 200  # still signed in: nothing was revoked


def test_a_raw_plus_in_the_body_is_a_space_and_is_refused(app, smtp):
    client = registered_client(app, smtp, "plus@example.com")
    token = csrf_token(client, "/account/sessions")
    response = client.post(
        "/account/sessions/revoke",
        data=f"csrf_token={token}&session_id=+",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 303
    assert client.get("/account").status_code == 200


@pytest.mark.parametrize("raw", ["\u0661", "\uff11", "1\n", " 1", "01x", "9999999999"])
def test_archive_ids_are_ascii_digits_only(client, raw):
    from urllib.parse import quote

    assert client.get(f"/newsletter/archive/{quote(raw)}").status_code == 404
