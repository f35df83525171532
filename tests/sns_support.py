"""A stand-in for SNS on loopback: a CA the tests make, an https server (http.server + ssl in a
thread) that serves the signing certificate and answers SubscribeURL confirmations, and a signer
that signs SNS-shaped messages the way SNS does (SignatureVersion 1 and 2)."""

from __future__ import annotations

import base64
import json
import ssl
import threading
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_address
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from portal.mail.sns import canonical

TOPIC = "arn:aws:sns:eu-central-1:123456789012:ses-feedback"
CERT_PATH = "/SimpleNotificationService-test.pem"


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _certificate(subject: str, key: rsa.RSAPrivateKey, issuer: str, issuer_key: rsa.RSAPrivateKey,
                 ca: bool = False, san_ip: str | None = None) -> x509.Certificate:
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if san_ip:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ip_address(san_ip))]),
                                        critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


class FakeSNS:
    def __init__(self, folder: Path) -> None:
        ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        ca = _certificate("portal test CA", ca_key, "portal test CA", ca_key, ca=True)
        tls_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        tls = _certificate("127.0.0.1", tls_key, "portal test CA", ca_key, san_ip="127.0.0.1")
        self.signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.signing_cert = _pem(_certificate("sns.amazonaws.com", self.signing_key, "portal test CA", ca_key))
        folder.mkdir(parents=True, exist_ok=True)
        self.ca_file = folder / "ca.pem"
        self.ca_file.write_bytes(_pem(ca))
        (folder / "tls.pem").write_bytes(_pem(tls) + tls_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        self.requests: list[str] = []
        self.cert_fetches = 0
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(folder / "tls.pem")
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.netloc = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake.requests.append(self.path)
                if self.path == CERT_PATH:
                    fake.cert_fetches += 1
                    body, kind = fake.signing_cert, "application/x-pem-file"
                elif self.path.startswith("/?Action=ConfirmSubscription"):
                    body, kind = b"<ConfirmSubscriptionResponse/>", "text/xml"
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def settings(self) -> dict[str, Any]:
        return {"SNS_CERT_HOSTS_FOR_TESTS": [self.netloc], "SNS_CA_FILE_FOR_TESTS": str(self.ca_file),
                "SES_TOPIC_ARNS": [TOPIC]}

    @property
    def cert_url(self) -> str:
        return f"https://{self.netloc}{CERT_PATH}"

    def message(self, kind: str = "Notification", payload: Any = None, version: str = "1",
                topic: str = TOPIC, **fields: Any) -> dict[str, Any]:
        """A signed SNS message; ``fields`` override anything before signing."""
        message: dict[str, Any] = {
            "Type": kind,
            "MessageId": str(uuid.uuid4()),
            "TopicArn": topic,
            "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            "SignatureVersion": version,
            "SigningCertURL": self.cert_url,
        }
        if kind == "Notification":
            message["Message"] = payload if isinstance(payload, str) else json.dumps(payload or {})
            message["Subject"] = None
            message["UnsubscribeURL"] = f"https://{self.netloc}/?Action=Unsubscribe"
        else:
            message["Message"] = "You have chosen to subscribe to the topic."
            message["Token"] = uuid.uuid4().hex * 2
            message["SubscribeURL"] = f"https://{self.netloc}/?Action=ConfirmSubscription&Token=x"
        message.update(fields)
        if message.get("Subject") is None:
            message.pop("Subject", None)
        return self.sign(message)

    def sign(self, message: dict[str, Any]) -> dict[str, Any]:
        # SignatureVersion 1 is SHA1withRSA: SNS's own choice, reproduced here on purpose.
        digest = hashes.SHA1() if message["SignatureVersion"] == "1" else hashes.SHA256()  # noqa: S303
        signature = self.signing_key.sign(canonical(message), padding.PKCS1v15(), digest)
        message["Signature"] = base64.b64encode(signature).decode("ascii")
        return message


def bounce(recipients: list[str], bounce_type: str = "Permanent", source: str = "no-reply@portal.example",
           message_id: str | None = None) -> dict[str, Any]:
    """An SES bounce notification, as SES writes it."""
    headers = [{"name": "Message-ID", "value": message_id}] if message_id else []
    return {
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": bounce_type, "bounceSubType": "General" if bounce_type == "Permanent" else "MailboxFull",
            "bouncedRecipients": [{"emailAddress": r, "action": "failed", "status": "5.1.1",
                                   "diagnosticCode": "smtp; 550 5.1.1 user unknown"} for r in recipients],
            "timestamp": "2026-12-01T08:00:00.000Z", "feedbackId": "0100018a-feedback",
        },
        "mail": {"timestamp": "2026-12-01T07:59:59.000Z", "messageId": "0100018a-ses-id", "source": source,
                 "destination": recipients, "headersTruncated": False, "headers": headers,
                 "commonHeaders": {"messageId": message_id} if message_id else {}},
    }


def complaint(recipients: list[str], source: str) -> dict[str, Any]:
    return {
        "notificationType": "Complaint",
        "complaint": {"complainedRecipients": [{"emailAddress": r} for r in recipients],
                      "complaintFeedbackType": "abuse", "timestamp": "2026-12-01T08:00:00.000Z"},
        "mail": {"messageId": "0100018a-ses-id", "source": source, "destination": recipients},
    }


def delivery(recipient: str, source: str) -> dict[str, Any]:
    return {"notificationType": "Delivery",
            "delivery": {"recipients": [recipient], "smtpResponse": "250 ok"},
            "mail": {"messageId": "0100018a-ses-id", "source": source, "destination": [recipient]}}
