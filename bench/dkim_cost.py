"""DKIM signing cost on the newsletter path (not a test).

Sends one issue to N synthetic subscribers through the mail engine into aiosmtpd's discarding
sink (its own process), once without and once with DKIM (a 2048-bit RSA key), alternating
``--rounds`` times on fresh SQLite databases, and prints messages per second for both, plus the
cost of one dkimpy signature on its own.

    .venv/bin/python bench/dkim_cost.py                 # N = 2000, 2 rounds
    .venv/bin/python bench/dkim_cost.py --count 5000 --rounds 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402

from bench.newsletter import add_subscribers, make_app, sink  # noqa: E402
from portal.extensions import db  # noqa: E402
from portal.mail.dkim_signing import Signer, load_key  # noqa: E402
from portal.newsletter import issues  # noqa: E402
from portal.newsletter.sender import Sender, SendOptions  # noqa: E402


def one_run(port: int, count: int, key_file: Path | None) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        extra = {}
        if key_file is not None:
            extra = {"DKIM_DOMAIN": "portal.example", "DKIM_SELECTOR": "bench", "DKIM_PRIVATE_KEY_FILE": str(key_file)}
        app = make_app(port, None, Path(tmp), BOUNCE_ADDRESS="bounces@portal.example", **extra)
        with app.app_context():
            add_subscribers(count)
            issue_id = issues.create_issue("Bench", "# Hello\n\nSome **news**.\n" * 20).id
            issues.start_issue(issue_id)
            began = time.monotonic()
            outcome = Sender(issue_id, SendOptions(batch_size=500)).run()
            elapsed = time.monotonic() - began
            assert outcome.sent == count, outcome
            db.session.remove()
            db.engine.dispose()
    return count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as keys:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        key_file = Path(keys) / "dkim.key"
        key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        signer = Signer(b"portal.example", b"bench", load_key(key_file))
        sample = (b"From: a@portal.example\r\nTo: b@example.com\r\nSubject: x\r\nList-Unsubscribe: <https://x/y>\r\n"
                  b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n\r\n" + b"body line\r\n" * 600)
        began = time.perf_counter()
        for _ in range(200):
            signer.sign(sample)
        per_signature = (time.perf_counter() - began) / 200
        plain, signed = [], []
        with sink() as port:
            for _ in range(args.rounds):
                plain.append(one_run(port, args.count, None))
                signed.append(one_run(port, args.count, key_file))
    p, s = statistics.median(plain), statistics.median(signed)
    print(f"one dkimpy signature (2048-bit RSA, 6 KB message): {per_signature * 1000:.2f} ms")
    print(f"newsletter to {args.count} subscribers, median of {args.rounds} rounds: "
          f"{p:.0f} msg/s without DKIM, {s:.0f} msg/s with DKIM ({(1 - s / p) * 100:.0f} % slower)")


if __name__ == "__main__":
    main()
