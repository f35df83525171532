"""Amazon SNS message signatures, checked the way AWS documents it — and no looser.

An SNS message proves nothing by itself: anyone can POST JSON that looks like one. It is believed
only when its signature verifies against the certificate at ``SigningCertURL``, and that URL is
believed only when it is https on an ``sns.<region>.amazonaws.com`` host (``.amazonaws.com.cn``
in China) with a ``.pem`` path — the classic SNS-forgery bug is fetching whatever certificate the
message points at. Redirects are not followed (a redirect would lead off the host); certificates
are cached in memory, a bounded number, until they expire.

SignatureVersion 1 is SHA1withRSA, 2 is SHA256withRSA, both PKCS#1 v1.5 over the canonical string:
"Key\\nvalue\\n" for a fixed list of keys per message type, in that order, skipping an absent
Subject (https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html).
"""

from __future__ import annotations

import base64
import binascii
import re
import ssl
import threading
import urllib.error
import urllib.request
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

# cryptography's X.509 layer (about 8 MB) loads with the first SES notification, not in every
# web process.
if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import rsa

AWS_HOST = re.compile(r"^sns\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?$")
TYPES = ("Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation")
SIGNED_KEYS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
    "UnsubscribeConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
}
HASHES = {"1": "SHA1", "2": "SHA256"}  # SignatureVersion -> cryptography.hazmat.primitives.hashes
MAX_AGE = timedelta(hours=1)  # older messages are refused as replays
MAX_SKEW = timedelta(minutes=5)  # a timestamp this far in the future is refused too
FETCH_TIMEOUT = 5.0
MAX_CERT_BYTES = 64 * 1024
CACHE_SIZE = 32


class Refused(Exception):
    """The message is not believed (or cannot be checked now); ``status`` is the HTTP answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Trust:
    """Which hosts certificates (and SubscribeURLs) may come from. Production: AWS only."""

    test_hosts: tuple[str, ...] = ()  # "host:port", allowed only outside production
    test_ca_file: str | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Trust:
        if config.get("PRODUCTION"):
            return cls()
        return cls(tuple(config.get("SNS_CERT_HOSTS_FOR_TESTS") or ()), config.get("SNS_CA_FILE_FOR_TESTS"))

    def is_test_host(self, netloc: str) -> bool:
        return netloc in self.test_hosts


def canonical(message: Mapping[str, Any]) -> bytes:
    keys = SIGNED_KEYS[str(message["Type"])]
    lines = [f"{key}\n{message[key]}\n" for key in keys if key != "Subject" or message.get("Subject") is not None]
    return "".join(lines).encode("utf-8")


def check_url(url: Any, trust: Trust, *, pem: bool) -> str:
    """The URL if SNS may be believed to serve it; Refused otherwise."""
    if not isinstance(url, str) or len(url) > 1000:
        raise Refused(403, "no certificate URL" if pem else "no SubscribeURL")
    parts = urlsplit(url)
    what = "certificate URL" if pem else "SubscribeURL"
    if parts.scheme != "https":
        raise Refused(403, f"the {what} is not https")
    if parts.username or parts.password or not parts.hostname:
        raise Refused(403, f"the {what} has no plain host")
    if not (AWS_HOST.match(parts.netloc) or trust.is_test_host(parts.netloc)):
        # netloc, not hostname: "sns.eu-west-1.amazonaws.com:8443" is not an AWS endpoint either.
        raise Refused(403, f"the {what} is not on an sns.<region>.amazonaws.com host")
    if pem and not parts.path.endswith(".pem"):
        raise Refused(403, "the certificate URL does not name a .pem file")
    return url


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a redirect could lead off the allowed host: treat it as a failure


def fetch(url: str, trust: Trust, limit: int = MAX_CERT_BYTES) -> bytes:
    """GET an already checked URL: short timeout, no redirects, bounded size."""
    netloc = urlsplit(url).netloc
    context = ssl.create_default_context()
    handlers: list[Any] = [_NoRedirect()]
    if trust.is_test_host(netloc):
        # Tests only (refused in production by portal.mail.settings): their loopback server's CA.
        context = ssl.create_default_context(cafile=trust.test_ca_file)
        handlers.append(urllib.request.ProxyHandler({}))
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context), *handlers)
    try:
        with opener.open(url, timeout=FETCH_TIMEOUT) as response:
            if response.status != 200:
                raise Refused(502, f"{netloc} answered {response.status}")
            body: bytes = response.read(limit + 1)
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise Refused(502, f"could not fetch from {netloc}: {type(error).__name__}") from None
    if len(body) > limit:
        raise Refused(502, f"the answer from {netloc} is too large")
    return body


_cache: OrderedDict[str, tuple[rsa.RSAPublicKey, datetime]] = OrderedDict()
_cache_lock = threading.Lock()


def public_key(url: str, trust: Trust) -> rsa.RSAPublicKey:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import rsa

    now = datetime.now(UTC)
    with _cache_lock:
        cached = _cache.get(url)
        if cached is not None and cached[1] > now:
            _cache.move_to_end(url)
            return cached[0]
    try:
        certificate = x509.load_pem_x509_certificate(fetch(url, trust))
    except ValueError:
        raise Refused(403, "the certificate URL does not serve a PEM certificate") from None
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise Refused(403, "the signing certificate is not valid now")
    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise Refused(403, "the signing certificate has no RSA key")
    with _cache_lock:
        _cache[url] = (key, certificate.not_valid_after_utc)
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return key


def parse_time(value: Any) -> datetime:
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise Refused(400, "the Timestamp is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise Refused(400, "the Timestamp has no time zone")
    return moment


def verify(message: Mapping[str, Any], topics: list[str], trust: Trust, now: datetime | None = None) -> None:
    """Raises Refused unless the message is a well-formed, fresh, correctly signed SNS message
    for one of ``topics``. Checks that need no network come first."""
    kind = message.get("Type")
    if kind not in TYPES:
        raise Refused(400, "not an SNS message (unknown Type)")
    for key in SIGNED_KEYS[kind]:
        if key != "Subject" and not isinstance(message.get(key), str):
            raise Refused(400, f"the SNS message has no {key}")
    version = message.get("SignatureVersion")
    if version not in HASHES or not isinstance(message.get("Signature"), str):
        raise Refused(403, "the message is not signed (SignatureVersion 1 or 2 expected)")
    if message["TopicArn"] not in topics:
        raise Refused(403, "the topic is not one of SES_TOPIC_ARNS")
    url = check_url(message.get("SigningCertURL"), trust, pem=True)
    moment = parse_time(message["Timestamp"])
    now = now or datetime.now(UTC)
    if moment < now - MAX_AGE or moment > now + MAX_SKEW:
        raise Refused(403, "the message is too old (or from the future): refused as a replay")
    try:
        signature = base64.b64decode(message["Signature"], validate=True)
    except (binascii.Error, ValueError):
        raise Refused(403, "the signature is not base64") from None
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    signer = public_key(url, trust)
    try:
        signer.verify(signature, canonical(message), padding.PKCS1v15(), getattr(hashes, HASHES[version])())
    except InvalidSignature:
        raise Refused(403, "the signature does not verify") from None
