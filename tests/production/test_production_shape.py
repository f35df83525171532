"""Production shape: nginx (TLS) in front of two portal hosts sharing PostgreSQL and Redis.

Each test drives the environment of ``harness.py`` from outside, as visitors and operators do:
Chromium over https, an https client from loopback addresses of its own (so nginx sees distinct
client IPs), the operator's commands on each host, and signals to kill what an outage kills. The
tests do not depend on each other's traffic, and the destructive ones (Redis restart, PostgreSQL
connections killed, a host killed) put back what they broke, so the environment — built once per
test process (session scope: under xdist each worker that runs one of these builds its own) —
serves whichever test comes next.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.chromium import ARGS, CHROMIUM
from tests.helpers import PASSWORD, links
from tests.production.harness import (
    LOGIN_LIMIT,
    VENV,
    Environment,
    Host,
    need,
    wait_until,
)

pytestmark = [pytest.mark.production, pytest.mark.slow]

WRONG = "not the password at all 99"
# A signup that went through: the "check your inbox" page, or a redirect to it (post/redirect/get).
SIGNED_UP = (200, 303)


def confirmation_link(env: Environment, email: str, timeout: float = 15) -> str:
    message = wait_until(lambda: env.smtp.to(email), timeout, f"the confirmation email to {email}")[-1]
    link = next(u for u in links(message) if "/confirm/" in u)
    assert link.startswith(env.base_url + "/confirm/"), link  # BASE_URL, https, through nginx
    return link


def log_mark(env: Environment) -> int:
    time.sleep(0.3)  # nginx writes a request's line after its response
    return len(env.nginx.log_lines())


def upstreams_since(env: Environment, mark: int, method: str, path: str) -> list[str]:
    time.sleep(0.3)
    return env.nginx.upstreams_of(env.nginx.log_lines(mark), method, path)


def login_posts(env: Environment, source: str, count: int, spoof: bool = True) -> list[int]:
    client = env.client(source)
    token = client.csrf("/login")  # one form, posted again and again: the posts alternate between hosts
    statuses = []
    for i in range(count):
        headers = {"X-Forwarded-For": f"203.0.113.{i + 1}", "X-Real-IP": f"198.51.100.{i + 1}"} if spoof else {}
        response = client.post_form("/login", {"email": f"nobody{i}-{source}@example.com", "password": WRONG,
                                                "csrf_token": token},
                                    headers=headers)
        statuses.append(response.status)
        if response.status == 429:
            assert response.header("Retry-After"), "a refusal says when to come back"
    return statuses


# --- Chromium over https -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def chromium(prod: Environment) -> Iterator[Any]:
    if not os.access(CHROMIUM, os.X_OK):
        if os.environ.get("PORTAL_TEST_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{CHROMIUM} is missing but PORTAL_TEST_REQUIRE_BROWSER=1")
        need(False, f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    # Chromium trusts exactly this server key (its SPKI hash), not every certificate.
    args = [*ARGS, f"--ignore-certificate-errors-spki-list={prod.certs.spki_sha256}"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=args, timeout=30_000)
        yield browser
        browser.close()


def test_browser_journey_over_https_across_both_hosts(prod: Environment, chromium: Any) -> None:
    context = chromium.new_context()
    context.set_default_timeout(15_000)
    outside: list[str] = []

    def route(route: Any) -> None:
        if urlsplit(route.request.url).hostname == "localhost":
            route.continue_()
        else:  # nothing leaves the machine
            outside.append(route.request.url)
            route.fulfill(status=204, body="")

    context.route("**/*", route)
    page = context.new_page()
    hsts: list[list[str]] = []
    page.on("response", lambda r: hsts.append([h["value"] for h in r.headers_array()
                                               if h["name"].lower() == "strict-transport-security"])
            if r.request.resource_type == "document" else None)
    mark = log_mark(prod)
    email = "journey@example.com"
    try:
        page.goto(prod.base_url + "/")
        page.get_by_role("button", name="Reject all").click()
        page.locator("#consent-banner").wait_for(state="detached")
        page.goto(prod.base_url + "/signup")
        page.locator('input[name="email"]').fill(email)
        page.locator('input[name="password"]').fill(PASSWORD)
        page.get_by_role("button", name="Create account").click()
        page.wait_for_load_state()
        assert "inbox" in page.content().lower()

        link = confirmation_link(prod, email)
        page.goto(link)
        page.goto(prod.base_url + "/login")
        page.locator('input[name="email"]').fill(email)
        page.locator('input[name="password"]').fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(prod.base_url + "/account")
        # Session and consent survive switching hosts: every page, whichever host serves it.
        for i in range(8):
            if i % 2:  # shift nginx's round robin by one, whatever number of requests a page makes
                assert page.evaluate("fetch('/healthz').then(r => r.status)") == 200
            page.goto(prod.base_url + "/account")
            assert urlsplit(page.url).path == "/account"
            assert email in page.content()
            assert page.locator("#consent-banner").count() == 0

        cookies = {c["name"]: c for c in context.cookies()}
        for name in ("__Host-session", "__Host-sid", "__Host-consent"):
            assert name in cookies, sorted(cookies)
            cookie = cookies[name]
            assert cookie["secure"] and cookie["httpOnly"] and cookie["path"] == "/", cookie
            assert cookie["domain"] == "localhost" and cookie["sameSite"] == "Lax", cookie
        assert not [n for n in cookies if not n.startswith("__Host-")], sorted(cookies)

        page.locator('form[action="/logout"] button').first.click()
        page.wait_for_load_state()
        page.goto(prod.base_url + "/account")
        assert urlsplit(page.url).path == "/login"
        assert "__Host-sid" not in {c["name"] for c in context.cookies()}
    finally:
        context.close()
    assert outside == []
    # HSTS on every page, exactly once (the app sets it; nginx does not double it).
    assert hsts and all(values == ["max-age=63072000; includeSubDomains"] for values in hsts), hsts
    served = upstreams_since(prod, mark, "GET", "/account")
    assert set(served) == prod.upstream_addresses(), served
    for host in prod.hosts:
        assert host.web and '"GET /account" 200' in host.web.text()
    # No log holds the confirmation token: nginx cuts it, gunicorn's filter redacts it.
    token = link.rstrip("/").rsplit("/", 1)[1]
    nginx_log = "\n".join(prod.nginx.log_lines())
    assert '"GET /confirm/[redacted]" 302' in nginx_log or '"GET /confirm/[redacted]" 200' in nginx_log
    assert token not in nginx_log and "journey@" not in nginx_log
    assert all(token not in h.web.text() for h in prod.hosts if h.web)


def test_cookies_secure_host_prefixed_and_hsts_through_the_proxy(prod: Environment) -> None:
    client = prod.client()
    page = client.get("/login")
    assert page.status == 200
    assert page.all("Strict-Transport-Security") == ["max-age=63072000; includeSubDomains"]
    (cookie,) = client.set_cookie_headers
    assert cookie.startswith("__Host-session=") and "; Secure" in cookie and "; Path=/" in cookie
    assert "Domain=" not in cookie
    # Plain http only redirects to https; /metrics is not public.
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", prod.nginx.http_port, timeout=5)
    conn.request("GET", "/login", headers={"Host": "localhost"})
    redirect = conn.getresponse()
    assert redirect.status == 301 and redirect.getheader("Location") == "https://localhost/login"
    conn.close()
    assert client.get("/metrics").status == 404


# --- the per-IP login limit ----------------------------------------------------------------------

def test_login_limit_is_exact_across_both_hosts_and_ignores_client_forwarded_headers(prod: Environment) -> None:
    mark = log_mark(prod)
    statuses = login_posts(prod, "127.0.0.21", LOGIN_LIMIT + 2)
    assert statuses == [400] * LOGIN_LIMIT + [429, 429], statuses
    served = upstreams_since(prod, mark, "POST", "/login")
    assert len(served) == LOGIN_LIMIT + 2 and set(served) == prod.upstream_addresses(), served
    # Per client address: another visitor is not refused.
    assert login_posts(prod, "127.0.0.22", 1) == [400]
    # The app recorded the address nginx saw, never the one the client wrote.
    recorded = {ip for (ip,) in prod.sql("SELECT DISTINCT ip FROM login_attempts")}
    assert "127.0.0.21" in recorded and "127.0.0.22" in recorded
    assert not [ip for ip in recorded if ip.startswith(("203.0.113.", "198.51.100."))], recorded


def test_metrics_on_each_host_add_up_every_worker_and_carry_no_personal_data(prod: Environment) -> None:
    from tests.production.harness import METRICS_TOKEN

    def scrape() -> list[str]:
        texts = []
        for host in prod.hosts:
            assert host.direct("/metrics")[0] == 404  # no token, no endpoint
            status, text = host.direct("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
            assert status == 200
            texts.append(text)
        return texts

    def total(texts: list[str], name: str, **labels: str) -> float:
        found = 0.0
        for text in texts:
            for line in text.splitlines():
                if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
                    found += float(line.rsplit(" ", 1)[1])
        return found

    before = scrape()
    mark = log_mark(prod)
    assert login_posts(prod, "127.0.0.81", LOGIN_LIMIT + 1) == [400] * LOGIN_LIMIT + [429]
    assert set(upstreams_since(prod, mark, "POST", "/login")) == prod.upstream_addresses()
    after = scrape()

    def grew(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    # Whichever worker of whichever host took a post, the two hosts' scrapes add up to all of them.
    assert grew("portal_login_attempts_total", outcome="failure") == LOGIN_LIMIT
    assert grew("portal_login_attempts_total", outcome="rate_limited") == 1
    assert grew("portal_http_requests_total", endpoint="accounts.login", method="POST") == LOGIN_LIMIT + 1
    assert grew("portal_http_requests_total", endpoint="accounts.login", method="POST", status="429") == 1
    assert "portal_mail_queue_messages" in after[0] and "portal_inquiries_open" in after[0]
    assert total(after[:1], "portal_database_up") == 0 or "portal_database_up 1.0" in after[0]
    for text in after:
        assert "@example.com" not in text and "127.0.0." not in text and "/confirm/" not in text


# --- the newsletter, from both hosts at once -----------------------------------------------------

def test_newsletter_sent_from_both_hosts_at_once_reaches_each_subscriber_once(prod: Environment, tmp_path) -> None:
    count = 120
    emails = [f"reader{i:04d}@example.com" for i in range(count)]
    _subscribers(prod, emails)
    body = tmp_path / "issue.md"
    body.write_text("# News\n\nThis month: **both hosts**.\n")
    created = prod.hosts[0].flask("newsletter", "create", "--subject", "Monthly news", "--body-file", str(body))
    issue_id = created.stdout.strip().splitlines()[-1]
    prod.smtp.clear()
    workers = [host.start_mail_worker() for host in prod.hosts]
    senders = [_send(host, issue_id) for host in prod.hosts]
    outputs = []
    for sender in senders:
        out, _ = sender.communicate(timeout=120)
        outputs.append(out)
        assert sender.returncode == 0, out
    wait_until(lambda: len(_copies(prod, emails)) >= count, 60, "every copy")
    time.sleep(1.5)  # and no second copy comes after
    copies = _copies(prod, emails)
    assert copies == Counter({e: 1 for e in emails}), [e for e, n in copies.items() if n != 1][:10]
    status = prod.hosts[1].flask("newsletter", "status", issue_id).stdout
    assert re.search(rf"\bsent\D+{count}\b", status), status
    for worker in workers:
        assert worker.alive(), worker.text()
        worker.stop()
        assert "Traceback" not in worker.text()


def _subscribers(env: Environment, emails: list[str]) -> None:
    """Confirmed subscribers made with the portal's own code, in a process with a host's settings."""
    script = (
        "import sys\n"
        "from wsgi import app\n"
        "from tests.newsletter_support import make_subscribers\n"
        "with app.app_context():\n"
        "    make_subscribers(int(sys.argv[1]), sys.argv[2])\n"
    )
    command = env.hosts[0].unit("portal-mail.service")
    run_env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    run_env.update(command.env)
    run_env["PORTAL_MAIL_WORKER_THREADS"] = "0"
    subprocess.run([str(VENV / "bin" / "python"), "-c", script, str(len(emails)), "reader"], cwd=command.cwd,
                   env=run_env, check=True, capture_output=True, timeout=60)


def _send(host: Host, issue_id: str) -> subprocess.Popen[str]:
    command = host.unit("portal-mail.service")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env.update(command.env)
    return subprocess.Popen([str(VENV / "bin" / "flask"), "--app", "wsgi", "newsletter", "send", issue_id],
                            cwd=command.cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _copies(env: Environment, emails: list[str]) -> Counter[str]:
    wanted = set(emails)
    with env.smtp.lock:
        return Counter(to for m in env.smtp.messages if (to := str(m["To"]).lower()) in wanted)


# --- the purge unit ------------------------------------------------------------------------------

def test_purge_unit_runs_and_its_timer_is_hourly(prod: Environment) -> None:
    from tests.production.harness import DEPLOY

    command = prod.hosts[1].unit("portal-purge.service")
    assert command.argv[-2:] == ["privacy", "purge"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env.update(command.env)
    result = subprocess.run(command.argv, cwd=command.cwd, env=env, capture_output=True, text=True, timeout=120,
                            check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    timer = (DEPLOY / "systemd" / "portal-purge.timer").read_text()
    assert "OnCalendar=hourly" in timer and "Unit=portal-purge.service" in timer


# --- outages ---------------------------------------------------------------------------------------

def test_redis_restart_limits_hold_then_recover(prod: Environment) -> None:
    assert login_posts(prod, "127.0.0.31", 2, spoof=False) == [400, 400]
    prod.redis.stop()
    try:
        # Down: each process counts its share in memory — never everyone refused, never unlimited.
        down = login_posts(prod, "127.0.0.32", 20, spoof=False)
        assert not [s for s in down if s >= 500], down
        assert 400 in down and 429 in down, down
    finally:
        prod.redis.start()

    def exact_again() -> bool:
        source = f"127.0.1.{exact_again.next}"  # a range no other test uses  # type: ignore[attr-defined]
        exact_again.next += 1  # type: ignore[attr-defined]
        statuses = login_posts(prod, source, LOGIN_LIMIT + 1, spoof=False)
        if statuses != [400] * LOGIN_LIMIT + [429]:
            return False
        # ...and counted in Redis again, not by luck in one process's memory.
        keys = _redis(prod, "--scan", "--pattern", f"*{source}*")
        return bool(keys.strip())

    exact_again.next = 1  # type: ignore[attr-defined]
    wait_until(exact_again, 60, "the login limit to be exact (in Redis) again", interval=1)


def _redis(env: Environment, *args: str) -> str:
    return subprocess.run(["redis-cli", "-p", str(env.redis.port), *args], capture_output=True, text=True,
                          timeout=10, check=True).stdout


def test_postgresql_connections_killed_the_portal_reconnects(prod: Environment) -> None:
    client = prod.client("127.0.0.61")
    email = "after-pg@example.com"
    # The machine's PostgreSQL serves other tests too: instead of restarting it, every server
    # process of this environment's database is terminated — what a restart does to a pool.
    killed = prod.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    assert killed, "the portal holds pooled connections"
    statuses = [client.get("/healthz").status for _ in range(8)]
    assert statuses == [200] * 8, statuses
    response = client.post_form("/signup", {"email": email, "password": PASSWORD})
    assert response.status in SIGNED_UP, response.status
    link = confirmation_link(prod, email, timeout=30)  # the delivery threads reconnected too
    assert client.get(urlsplit(link).path).status in (200, 302)


def test_one_host_killed_mid_traffic_the_other_serves_and_nothing_is_lost(prod: Environment) -> None:
    reader = prod.client("127.0.0.71")
    email = "reader-of-account@example.com"
    assert reader.post_form("/signup", {"email": email, "password": PASSWORD}).status in SIGNED_UP
    assert reader.get(urlsplit(confirmation_link(prod, email)).path).status in (200, 302)
    assert reader.post_form("/login", {"email": email, "password": PASSWORD}).status == 302

    stop = threading.Event()
    gets: list[int] = []
    signups: list[tuple[str, int]] = []
    errors: list[str] = []

    def read() -> None:
        while not stop.is_set():
            try:
                response = reader.get("/account")
                gets.append(response.status if email in response.body else -response.status)
            except Exception as error:
                errors.append(repr(error))

    def sign_up() -> None:
        writer = prod.client("127.0.0.72")
        n = 0
        while not stop.is_set():
            address = f"during-kill-{n}@example.com"
            n += 1
            try:
                signups.append((address, writer.post_form("/signup", {"email": address, "password": PASSWORD}).status))
            except Exception as error:
                errors.append(repr(error))
            time.sleep(0.02)

    threads = [threading.Thread(target=read), threading.Thread(target=sign_up)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1.5)
        victim = prod.hosts[1]
        victim.kill()
        killed_at = len(gets), len(signups)
        time.sleep(3)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    assert errors == []
    # Reads are retried by nginx on the other host: not one failed, and the session held.
    assert gets and all(s == 200 for s in gets), Counter(gets)
    assert len(gets) > killed_at[0] + 5 and len(signups) > killed_at[1] + 2, (len(gets), len(signups), killed_at)
    # A POST in flight on the killed host may fail (nginx does not resend a form); no other.
    failed = [(a, s) for a, s in signups if s not in SIGNED_UP]
    assert len(failed) <= 1 and all(s == 502 for _, s in failed), failed
    # Nothing lost: every signup that was answered has its account and its email.
    done = [a for a, s in signups if s in SIGNED_UP]
    rows = {e for (e,) in prod.sql("SELECT email FROM users WHERE email LIKE 'during-kill-%%'")}
    assert set(done) <= rows
    wait_until(lambda: all(prod.smtp.to(a) for a in done), 30, "a confirmation email for every signup")
    survivor = prod.hosts[0]
    assert survivor.web and survivor.web.alive()
    _bring_back(prod, victim)


def _bring_back(env: Environment, host: Host) -> None:
    """Start the killed host again and wait until nginx sends it requests (after fail_timeout)."""
    host.start_web()
    client = env.client("127.0.0.73")

    def served_again() -> bool:
        mark = log_mark(env)
        for _ in range(4):
            client.get("/healthz")
        return host.bind in upstreams_since(env, mark, "GET", "/healthz")

    wait_until(served_again, 30, f"nginx to send requests to {host.name} again", interval=1)
