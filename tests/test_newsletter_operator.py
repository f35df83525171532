"""What the operator does and sees: --rate really throttles, the progress bar shows
sent/total, rate and ETA in a terminal, staff can record an unsubscription (source admin), and
an issue cannot make readers fetch images from other hosts."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import time

from portal.extensions import db as _db
from portal.newsletter.models import SubscriptionEvent
from tests.newsletter_support import ROOT, flask_command, make_issue, make_subscribers, subprocess_env


def _run_in_terminal(command: list[str], env: dict[str, str], timeout: float = 60) -> tuple[int, str]:
    """Run ``command`` with a pseudo-terminal as stdout, so click draws its progress bar."""
    leader, follower = pty.openpty()
    child = subprocess.Popen(command, cwd=ROOT, env={**env, "COLUMNS": "120"},
                             stdin=subprocess.DEVNULL, stdout=follower, stderr=follower)
    os.close(follower)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.2)
        if ready:
            try:
                data = os.read(leader, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif child.poll() is not None:
            break
    os.close(leader)
    return child.wait(timeout=10), b"".join(chunks).decode("utf-8", "replace")


def test_rate_throttles_and_the_progress_bar_shows_count_rate_and_eta(app, db, smtp):
    count, rate = 16, 10.0  # long enough (> 1 s) for click to know an ETA
    make_subscribers(count)
    issue_id = make_issue()
    _db.session.remove()
    env = subprocess_env(app, smtp.port)
    started = time.monotonic()
    code, screen = _run_in_terminal(flask_command("newsletter", "send", str(issue_id), "--rate", str(rate)), env)
    elapsed = time.monotonic() - started
    assert code == 0, screen
    assert len(smtp.messages) == count
    # Throttled: n messages at `rate` per second take at least (n - 1) / rate seconds.
    summary = re.search(r"This run: (\d+) sent.* in ([\d.]+) s \(([\d.]+) msg/s\)", screen)
    assert summary, screen
    assert int(summary.group(1)) == count
    assert float(summary.group(2)) >= (count - 1) / rate * 0.95
    assert float(summary.group(3)) <= rate * 1.1
    assert elapsed >= (count - 1) / rate
    # The bar, redrawn in place: a label, sent/total, the rate and an ETA.
    assert "Sending" in screen
    assert f"{count}/{count}" in screen
    assert re.search(rf"\d+/{count} · [\d.]+ msg/s", screen)
    assert re.search(r"\d\d:\d\d:\d\d", screen)  # click's ETA


def test_staff_can_record_an_unsubscription_with_source_admin(app, db, smtp):
    (email,) = make_subscribers(1)
    _db.session.remove()
    result = app.test_cli_runner().invoke(args=["newsletter", "suppress", email, "--reason", "admin"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        sources = [e.source for e in _db.session.query(SubscriptionEvent).all()]
    assert sources[-1] == "admin"
    refused = app.test_cli_runner().invoke(args=["newsletter", "suppress", email, "--reason", "because"])
    assert refused.exit_code != 0 and "because" in refused.output


def test_images_from_other_hosts_are_dropped_from_issues(app):
    from portal.newsletter.render import markdown_to_html

    with app.app_context():
        own = app.config["BASE_URL"] + "/static/logo.png"
        out = markdown_to_html(
            f"![pixel](https://tracker.example/p.gif) ![p2](//tracker.example/q.gif) ![ours]({own}) "
            "![rel](/static/x.png) [a link stays](https://elsewhere.example/)"
        )
    assert "tracker.example" not in out
    assert f'src="{own}"' in out and 'src="/static/x.png"' in out
    assert 'href="https://elsewhere.example/"' in out
