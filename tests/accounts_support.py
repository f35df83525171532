"""Helpers for the account tests: users made through the service, a bcrypt spy, old tokens."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import bcrypt
import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from tests.helpers import PASSWORD, csrf_token, links, path_of, post_form

NONCE = re.compile(r'nonce="[^"]+"')
CSRF_VALUE = re.compile(r'(name="csrf_token"[^>]*value=")[^"]+(")')


def normalise_page(html: str) -> str:
    """The page with its per-response randomness (CSRF token, CSP nonce) blanked out."""
    return NONCE.sub('nonce=""', CSRF_VALUE.sub(r"\1\2", html))


def cookie_value(client: Any, name: str = "portal_sid") -> str | None:
    cookie = client.get_cookie(name)
    return cookie.value if cookie is not None else None


def set_ip(client: Any, ip: str) -> Any:
    client.environ_base["REMOTE_ADDR"] = ip
    return client


def login(client: Any, email: str, password: str = PASSWORD, next: str | None = None, **kwargs: Any) -> Any:
    path = "/login" + (f"?next={next}" if next else "")
    return post_form(client, path, {"email": email, "password": password}, token_from="/login", **kwargs)


def create_user(app: Any, email: str = "alice@example.com", password: str = PASSWORD, confirmed: bool = True) -> int:
    """An account that can sign in (tests.factories.make_user), confirmed unless asked otherwise."""
    from portal.extensions import db
    from tests.factories import make_user

    with app.test_request_context("/"):
        user_id = make_user(email, password=password, confirmed=confirmed).id
        db.session.remove()
    return user_id


def logged_in_client(
    app: Any, email: str = "alice@example.com", password: str = PASSWORD, ip: str = "127.0.0.1"
) -> Any:
    client = set_ip(app.test_client(), ip)
    response = login(client, email, password)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def link_from(smtp: Any, address: str, marker: str) -> str:
    """The path of the last link containing ``marker`` mailed to ``address``."""
    message = smtp.to(address)[-1]
    return path_of(next(url for url in links(message) if marker in url))


def account_page(client: Any) -> str:
    response = client.get("/account")
    assert response.status_code == 200
    return str(response.get_data(as_text=True))


def post_account_form(client: Any, path: str, data: dict[str, Any]) -> Any:
    data = dict(data)
    data.setdefault("csrf_token", csrf_token(client, "/account"))
    return client.post(path, data=data)


def backdate_token(app: Any, token: str, purpose: str, seconds: int) -> str:
    """The same payload, signed as if ``seconds`` ago: itsdangerous' own timestamp, not a mock."""

    class PastSigner(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - seconds

    secret = app.config["SECRET_KEY"]
    payload = URLSafeTimedSerializer(secret, salt=f"portal.{purpose}").loads(token)
    return URLSafeTimedSerializer(secret, salt=f"portal.{purpose}", signer=PastSigner).dumps(payload)


@dataclass
class BcryptSpy:
    """Wraps bcrypt.checkpw and calls through, recording the cost of every hash it checked."""

    costs: list[int] = field(default_factory=list)
    hashpw_costs: list[int] = field(default_factory=list)

    def reset(self) -> None:
        self.costs.clear()
        self.hashpw_costs.clear()


@contextmanager
def bcrypt_spy(monkeypatch: pytest.MonkeyPatch) -> Iterator[BcryptSpy]:
    spy = BcryptSpy()
    real_checkpw, real_hashpw = bcrypt.checkpw, bcrypt.hashpw

    def checkpw(password: bytes, hashed: bytes) -> bool:
        spy.costs.append(int(hashed.split(b"$")[2]))
        return real_checkpw(password, hashed)

    def hashpw(password: bytes, salt: bytes) -> bytes:
        spy.hashpw_costs.append(int(salt.split(b"$")[2]))
        return real_hashpw(password, salt)

    monkeypatch.setattr(bcrypt, "checkpw", checkpw)
    monkeypatch.setattr(bcrypt, "hashpw", hashpw)
    yield spy
    monkeypatch.setattr(bcrypt, "checkpw", real_checkpw)
    monkeypatch.setattr(bcrypt, "hashpw", real_hashpw)


def db_rows(app: Any, statement: Any) -> list[Any]:
    from portal.extensions import db

    with app.app_context():
        rows = list(db.session.execute(statement).all())
        db.session.remove()
    return rows


def db_exec(app: Any, statement: Any) -> None:
    from portal.extensions import db

    with app.app_context():
        db.session.execute(statement)
        db.session.commit()
        db.session.remove()
