"""The return path names its delivery: bounces+<id>-<hmac>@domain, verifiable, case-insensitive."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal import create_app
from portal.config import ConfigError
from portal.extensions import db
from portal.mail import enqueue, returnpath
from portal.mail.models import Delivery
from portal.mail.worker import deliver_due

BOUNCE = "bounces@mail.portal.example"


def test_each_delivery_goes_out_with_its_own_verifiable_return_path(make_app, smtp):
    app = make_app(BOUNCE_ADDRESS=BOUNCE)
    with app.app_context():
        for who in ("a@example.com", "b@example.com"):
            enqueue(who, "Hello", "password_changed", kind="account.password-changed", reset_url="https://x.example/r")
        db.session.commit()
        deliver_due(app)
        ids = list(db.session.scalars(select(Delivery.id).order_by(Delivery.id)))
        paths = returnpath.current()
        senders = [mail_from for mail_from, _ in smtp.envelopes]
        assert len(set(senders)) == 2
        for did, sender in zip(ids, senders, strict=True):
            assert sender.startswith("bounces+") and sender.endswith("@mail.portal.example")
            assert len(sender.split("@")[0]) <= 64
            tag = paths.find_tag(sender.upper())  # a mailbox provider may change the case
            assert tag is not None and paths.delivery_of(tag) == did


def test_a_forged_or_altered_tag_does_not_verify(make_app):
    app = make_app(BOUNCE_ADDRESS=BOUNCE)
    with app.app_context():
        paths = returnpath.current()
        good = paths.envelope_sender(41)
        assert good is not None
        local, domain = good.split("@")
        did, mac = local.split("+")[1].split("-")
        for forged in (f"bounces+42-{mac}@{domain}", f"bounces+{did}-{'a' * len(mac)}@{domain}",
                       f"bounces+{did}@{domain}", f"bounces+{did}-{mac}@other.example", f"other+{did}-{mac}@{domain}"):
            tag = paths.find_tag(forged)
            assert tag is None or paths.delivery_of(tag) is None, forged
        other_secret = returnpath.ReturnPaths("another-secret-key-of-sufficient-length", BOUNCE)
        assert other_secret.delivery_of(other_secret.find_tag(good)) is None  # type: ignore[arg-type]


def test_without_bounce_address_the_from_address_is_the_envelope_sender(app, smtp):
    with app.app_context():
        enqueue("a@example.com", "Hello", "password_changed", kind="account.password-changed", reset_url="https://x")
        db.session.commit()
        deliver_due(app)
    assert smtp.envelopes[0][0] == app.config["MAIL_ENVELOPE_SENDER"]


@pytest.mark.parametrize("value", ["bounces", "a+b@example.org", "bounces@localhost", "x" * 33 + "@example.org",
                                   "Bounces <b@example.org>"])
def test_a_bounce_address_that_cannot_carry_a_tag_is_refused_at_start(tmp_path, value):
    with pytest.raises(ConfigError, match="BOUNCE_ADDRESS"):
        create_app({"INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "k" * 40, "BOUNCE_ADDRESS": value,
                    "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"})
