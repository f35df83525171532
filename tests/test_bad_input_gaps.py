"""Bad input the per-area suites did not reach: out-of-range ids, hostile passwords on the
export and erasure forms. Each must be a clear 4xx, never a 500."""

from __future__ import annotations

import pytest

from tests.helpers import PASSWORD, csrf_token
from tests.privacy_support import browser, registered_client, user_id

HUGE = "9" * 30


@pytest.mark.parametrize("path", [f"/newsletter/archive/{HUGE}", "/newsletter/archive/2147483648",
                                  "/newsletter/archive/-1", "/newsletter/archive/0"])
def test_out_of_range_archive_ids_are_404(client, path):
    assert client.get(path).status_code == 404


@pytest.mark.parametrize("session_id", [HUGE, "999999999999999999", "2147483648", "-1", "1e9", "\x00"])
def test_out_of_range_session_ids_are_refused_cleanly(app, smtp, session_id):
    client = registered_client(app, smtp, "ids@example.com")
    token = csrf_token(client, "/account/sessions")
    response = client.post("/account/sessions/revoke", data={"csrf_token": token, "session_id": session_id})
    assert response.status_code in (302, 303, 400, 404)
    assert client.get("/account").status_code == 200  # still signed in: nothing was revoked


@pytest.mark.parametrize("password", ["\x00", "pass\x00word" * 10, "x" * 5000, "x" * 100_000, "é" * 3000])
@pytest.mark.parametrize("path", ["/account/export", "/account/delete"])
def test_hostile_passwords_on_export_and_delete_are_4xx(app, smtp, path, password):
    client = registered_client(app, smtp, "hostile@example.com")
    token = csrf_token(client, "/account")
    response = client.post(path, data={"csrf_token": token, "password": password})
    assert 400 <= response.status_code < 500
    assert "Traceback" not in response.get_data(as_text=True)
    assert user_id(app, "hostile@example.com") is not None  # nothing was erased


def test_export_and_delete_refuse_other_methods(app, smtp):
    client = registered_client(app, smtp, "methods@example.com")
    assert client.put("/account/export").status_code == 405
    assert client.get("/account/delete").status_code == 405
    assert browser(app).post("/account/delete", data={"password": PASSWORD}).status_code == 400  # no CSRF
