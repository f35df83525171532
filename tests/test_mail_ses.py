"""POST /hooks/ses: SNS messages signed with a certificate the tests make and serve on loopback
https; only verified, fresh, first-seen messages of SES_TOPIC_ARNS change anything."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from portal import create_app
from portal.config import ConfigError
from portal.extensions import db as _db
from portal.mail import sns
from portal.mail.suppression import find
from portal.newsletter.models import Delivery
from tests.mail_feedback_support import BOUNCE_ADDRESS, send_issue, snapshot
from tests.sns_support import CERT_PATH, FakeSNS, bounce, complaint, delivery


@pytest.fixture(scope="module")
def fake_sns(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeSNS]:
    server = FakeSNS(Path(tmp_path_factory.mktemp("sns")))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def ses_app(make_app, fake_sns):
    sns._cache.clear()
    return make_app(BOUNCE_ADDRESS=BOUNCE_ADDRESS, **fake_sns.settings)


def post(app, message) -> tuple[int, dict]:
    body = message if isinstance(message, (bytes, str)) else json.dumps(message)
    response = app.test_client().post("/hooks/ses", data=body, content_type="text/plain; charset=UTF-8")
    return response.status_code, response.get_json()


@pytest.mark.parametrize("version", ["1", "2"])
def test_a_signed_permanent_bounce_suppresses_and_maps_to_the_delivery(ses_app, fake_sns, version):
    with ses_app.app_context():
        _, sent = send_issue()
        target = sent[1]
        message = fake_sns.message(payload=bounce([target.recipient], source=target.return_path), version=version)
        status, body = post(ses_app, message)
        assert status == 200, body
        found = find(target.recipient)
        assert found.reason == "bounce" and found.source == "ses" and "Permanent" in found.detail
        from portal.mail.feedback_models import Feedback

        [report] = _db.session.scalars(_db.select(Feedback)).all()
        assert report.delivery_id == target.delivery_id and report.issue_id is not None
        assert find(sent[0].recipient) is None


def test_a_bounce_maps_through_our_message_id_when_the_source_has_no_tag(ses_app, fake_sns):
    with ses_app.app_context():
        _, sent = send_issue(2)
        message = fake_sns.message(payload=bounce([sent[0].recipient], message_id=sent[0].message_id))
        assert post(ses_app, message)[0] == 200
        from portal.mail.feedback_models import Feedback

        assert _db.session.scalars(_db.select(Feedback.delivery_id)).all() == [sent[0].delivery_id]


def test_transient_bounces_are_recorded_and_suppress_after_the_limit(make_app, fake_sns):
    app = make_app(BOUNCE_ADDRESS=BOUNCE_ADDRESS, MAIL_SOFT_BOUNCE_LIMIT=3, **fake_sns.settings)
    with app.app_context():
        _, sent = send_issue(1)
        for attempt in range(3):
            payload = bounce([sent[0].recipient], bounce_type="Transient", source=sent[0].return_path)
            assert post(app, fake_sns.message(payload=payload))[0] == 200
            assert (find(sent[0].recipient) is not None) == (attempt == 2)


def test_a_complaint_suppresses_and_unsubscribes_with_the_reason(ses_app, fake_sns):
    with ses_app.app_context():
        _, sent = send_issue(2)
        message = fake_sns.message(payload=complaint([sent[1].recipient], sent[1].return_path), version="2")
        assert post(ses_app, message)[0] == 200
        assert find(sent[1].recipient).reason == "complaint"
        from portal.accounts.models import User
        from portal.newsletter.subscriptions import history, is_subscribed

        user = _db.session.get(User, sent[1].user_id)
        assert not is_subscribed(user) and history(user)[-1].source == "complaint"


def test_a_delivery_notification_marks_the_delivery_delivered(ses_app, fake_sns):
    with ses_app.app_context():
        _, sent = send_issue(1)
        assert post(ses_app, fake_sns.message(payload=delivery(sent[0].recipient, sent[0].return_path)))[0] == 200
        _db.session.rollback()
        assert _db.session.get(Delivery, sent[0].delivery_id).delivered_at is not None


def test_a_subscription_confirmation_is_confirmed_by_fetching_the_subscribe_url(ses_app, fake_sns):
    with ses_app.app_context():
        fake_sns.requests.clear()
        status, body = post(ses_app, fake_sns.message("SubscriptionConfirmation", version="2"))
        assert status == 200 and body["message"] == "subscription confirmed"
        assert any(r.startswith("/?Action=ConfirmSubscription") for r in fake_sns.requests)
        # A SubscribeURL off the SNS hosts is never fetched, even in a signed message.
        fake_sns.requests.clear()
        evil = fake_sns.message("SubscriptionConfirmation", SubscribeURL="https://evil.example/?Action=Confirm")
        assert post(ses_app, evil)[0] == 403
        assert not any("Confirm" in r for r in fake_sns.requests)


def test_certificates_are_cached(ses_app, fake_sns):
    with ses_app.app_context():
        _, sent = send_issue(1)
        before = fake_sns.cert_fetches
        for _ in range(3):
            payload = bounce([sent[0].recipient], bounce_type="Transient", source=sent[0].return_path)
            assert post(ses_app, fake_sns.message(payload=payload))[0] == 200
        assert fake_sns.cert_fetches - before == 1


def _flip_a_byte(message: dict) -> dict:
    changed = copy.deepcopy(message)
    changed["Message"] = changed["Message"].replace("Permanent", "Permanenu", 1)
    return changed


def _flip_signature(message: dict) -> dict:
    changed = copy.deepcopy(message)
    raw = bytearray(base64.b64decode(changed["Signature"]))
    raw[10] ^= 0x01
    changed["Signature"] = base64.b64encode(bytes(raw)).decode()
    return changed


def _unsigned(message: dict) -> dict:
    changed = copy.deepcopy(message)
    changed.pop("Signature")
    changed.pop("SignatureVersion")
    return changed


EVIL_HOST = "https://sns.eu-central-1.amazonaws.com.evil.example/x.pem"
REFUSALS = {  # case: (how the good message is spoiled, what the refusal says)
    "unsigned": (lambda fake, m: _unsigned(m), "not signed"),
    "flipped byte in the message": (lambda fake, m: _flip_a_byte(m), "does not verify"),
    "flipped byte in the signature": (lambda fake, m: _flip_signature(m), "does not verify"),
    "wrong certificate host": (lambda fake, m: fake.sign({**m, "SigningCertURL": EVIL_HOST}), "amazonaws.com host"),
    "loopback not allowed": (lambda fake, m: fake.sign({**m, "SigningCertURL": "https://127.0.0.2" + CERT_PATH}),
                             "amazonaws.com host"),
    "http certificate URL": (lambda fake, m: fake.sign({**m, "SigningCertURL": "http://" + fake.netloc + CERT_PATH}),
                             "not https"),
    "not a .pem": (lambda fake, m: fake.sign({**m, "SigningCertURL": fake.cert_url.replace(".pem", ".txt")}), ".pem"),
    "unknown topic": (lambda fake, m: fake.sign({**m, "TopicArn": "arn:aws:sns:eu-central-1:999999999999:other"}),
                      "SES_TOPIC_ARNS"),
    "an hour old": (lambda fake, m: fake.sign({**m, "Timestamp": "2020-01-01T00:00:00.000Z"}), "too old"),
    "signature version 3": (lambda fake, m: fake.sign({**m, "SignatureVersion": "3"}), "not signed"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_forged_and_foreign_messages_are_refused_with_nothing_changed(ses_app, fake_sns, case):
    with ses_app.app_context():
        _, sent = send_issue(2)
        good = fake_sns.message(payload=bounce([sent[0].recipient], source=sent[0].return_path))
        before = snapshot()
        spoil, reason = REFUSALS[case]
        status, body = post(ses_app, spoil(fake_sns, good))
        assert status == 403 and body["status"] == "refused" and reason in body["message"], body
        assert snapshot() == before


def test_a_replay_by_message_id_is_refused_with_nothing_changed(ses_app, fake_sns):
    with ses_app.app_context():
        _, sent = send_issue(2)
        first = fake_sns.message(payload=bounce([sent[0].recipient], bounce_type="Transient",
                                                source=sent[0].return_path))
        assert post(ses_app, first)[0] == 200
        before = snapshot()
        status, body = post(ses_app, first)
        assert status == 409 and "replay" in body["message"]
        assert snapshot() == before


@pytest.mark.parametrize("body", [b"", b"not json", b"[1, 2]", b'{"Type": "Notification"}', b"\xff\xfe",
                                  json.dumps({"Type": "Weird"}).encode()])
def test_malformed_posts_are_4xx_never_500(ses_app, body):
    with ses_app.app_context():
        before = snapshot()
        status, answer = post(ses_app, body)
        assert 400 <= status < 500 and answer["status"] == "refused"
        assert snapshot() == before


def test_a_verified_notification_with_unexpected_content_is_accepted_and_ignored(ses_app, fake_sns):
    with ses_app.app_context():
        for payload in ("not json at all", {"notificationType": "Bounce", "bounce": "x"},
                        {"notificationType": "Received"}, [1, 2]):
            status, body = post(ses_app, fake_sns.message(payload=payload if isinstance(payload, str)
                                                          else json.dumps(payload)))
            assert status == 200, body


def test_production_refuses_the_test_only_certificate_hosts(tmp_path, fake_sns):
    with pytest.raises(ConfigError, match="refused in production"):
        create_app({"INSTANCE_PATH": str(tmp_path), "ENV": "production", "SECRET_KEY": "k" * 40,
                    "BASE_URL": "https://portal.example", "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
                    **fake_sns.settings})


def test_only_aws_hosts_pass_the_certificate_url_rule():
    trust = sns.Trust()
    for good in ("https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
                 "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-abc.pem"):
        assert sns.check_url(good, trust, pem=True) == good
    for bad in ("http://sns.us-east-1.amazonaws.com/a.pem", "https://sns.us-east-1.amazonaws.com.evil.example/a.pem",
                "https://evil.example/sns.us-east-1.amazonaws.com/a.pem", "https://sns.us-east-1.amazonaws.com/a.txt",
                "https://user@sns.us-east-1.amazonaws.com/a.pem", "https://sns.us-east-1.amazonaws.com:444/a.pem",
                "https://xsns.us-east-1.amazonaws.com/a.pem", "https://s3.amazonaws.com/a.pem", None, 42):
        with pytest.raises(sns.Refused):
            sns.check_url(bad, trust, pem=True)


def test_sns_messages_are_rate_limited_per_ip(make_app, fake_sns):
    app = make_app(SES_HOOK_RATE_LIMIT="2 per minute", **fake_sns.settings)
    statuses = [app.test_client().post("/hooks/ses", data=b"{}").status_code for _ in range(3)]
    assert statuses == [400, 400, 429]
