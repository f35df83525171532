"""Production shape: nginx (TLS) in front of two portal hosts sharing PostgreSQL and Redis.

Each test drives the environment of ``harness.py`` from outside, as visitors and operators do:
Chromium over https, an https client from loopback addresses of its own (so nginx sees distinct
client IPs), the operator's commands on each host (inside its network namespace) and requests
straight to a host, as Prometheus makes them. The tests do not depend on each other's traffic;
the environment is built once per test process (session scope: under xdist each worker that runs
one of these builds its own). The outages are in test_outages.py.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.chromium import ARGS, CHROMIUM
from tests.helpers import PASSWORD
from tests.production import network
from tests.production.client import Client
from tests.production.harness import LOGIN_LIMIT, METRICS_TOKEN, Environment
from tests.production.units import DEPLOY, VENV, base_environ, need, wait_until
from tests.production.visits import WRONG, confirmation_link, log_mark, login_posts, upstreams_since

pytestmark = [pytest.mark.production, pytest.mark.slow]


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
        page.get_by_role("button", name="Sign in", exact=True).click()
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
    addresses = ("127.0.0.", prod.network.service_address.rsplit(".", 1)[0] + ".")
    for text in after:
        assert "@example.com" not in text and "/confirm/" not in text
        assert not [a for a in addresses if a in text], addresses


def test_forwarded_headers_are_believed_from_the_proxy_address_only(prod: Environment) -> None:
    """TRUSTED_PROXIES is nginx's address as the hosts see it: the same forged X-Forwarded-For
    is taken from that address and ignored from any other one that reaches a host directly."""
    host = prod.hosts[0]
    ((last,),) = prod.sql("SELECT coalesce(max(id), 0) FROM login_attempts")
    net = prod.network
    for source, forged in ((net.proxy_address, "192.0.2.77"), (net.service_address, "192.0.2.78")):
        client = Client(host.port, None, source=source, host=host.address)
        response = client.post_form("/login", {"email": "forwarded@example.com", "password": WRONG},
                                    headers={"X-Forwarded-For": forged})
        assert response.status == 400, response.status
    recorded = [ip for (ip,) in prod.sql("SELECT ip FROM login_attempts WHERE id > %s ORDER BY id", last)]
    assert recorded == ["192.0.2.77", net.service_address], recorded


# --- two hosts: two network namespaces -----------------------------------------------------------

def test_the_two_hosts_are_separate_network_namespaces(prod: Environment) -> None:
    net = prod.network
    if not net.namespaced:
        if os.environ.get(network.CHOOSE) == "loopback":
            pytest.skip(f"hosts on loopback addresses: {net.reason}")
        need(False, f"the hosts run on loopback addresses, not in network namespaces: {net.reason}")
    mine = network.namespace_of(os.getpid())
    seen = {}
    for host in prod.hosts:
        pids = host.web_pids()
        assert len(pids) == 3, pids  # the master and its two workers
        spaces = {network.namespace_of(pid) for pid in pids}
        assert len(spaces) == 1 and mine not in spaces, (spaces, mine)
        seen[host.name] = spaces.pop()
        # ...and it is the namespace the harness made for this host.
        named = subprocess.run(["ip", "netns", "identify", str(pids[0])], capture_output=True, text=True,
                               timeout=10, check=True).stdout.split()
        assert named == [net.namespaces[host.index]], named
        # Inside: its own loopback and its veth, nothing of the root namespace's addresses.
        inside = host.run("ip", "-o", "-4", "addr", "show").stdout
        assert sorted(re.findall(r"inet (\S+)/", inside)) == sorted(["127.0.0.1", host.address]), inside
        # PostgreSQL listens on the root's 127.0.0.1 and the bridge: only the bridge is reachable.
        reach = host.run(str(VENV / "bin" / "python"), "-c", _REACH, "127.0.0.1", net.service_address,
                         str(prod.pg.port)).stdout.split()
        assert reach == ["127.0.0.1=refused", f"{net.service_address}=open"], reach
    assert len(set(seen.values())) == len(prod.hosts), seen
    # Both hosts listen on the same port, which only separate namespaces allow.
    assert len({h.port for h in prod.hosts}) == 1
    # nginx reaches each host from the proxy address, over the bridge: its kept-alive upstream
    # connections, as the host's own namespace lists them (/proc/<pid>/net/tcp is per namespace).
    client = prod.client("127.0.0.23")
    for _ in range(4):
        assert client.get("/healthz").status == 200
    for host in prod.hosts:
        peers = network.tcp_peers(host.web_pids()[0], host.port)
        assert peers and set(peers) == {net.proxy_address}, peers


_REACH = """
import socket, sys
for address in sys.argv[1:3]:
    try:
        socket.create_connection((address, int(sys.argv[3])), timeout=3).close()
        print(f"{address}=open")
    except OSError:
        print(f"{address}=refused")
"""


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
    senders = [host.popen(str(VENV / "bin" / "flask"), "--app", "wsgi", "newsletter", "send", issue_id)
               for host in prod.hosts]
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
    env.hosts[0].run(str(VENV / "bin" / "python"), "-c", script, str(len(emails)), "reader", timeout=60,
                     extra_env={"PORTAL_MAIL_WORKER_THREADS": "0"})


def _copies(env: Environment, emails: list[str]) -> Counter[str]:
    wanted = set(emails)
    with env.smtp.lock:
        return Counter(to for m in env.smtp.messages if (to := str(m["To"]).lower()) in wanted)


# --- the purge unit ------------------------------------------------------------------------------

def test_purge_unit_runs_and_its_timer_is_hourly(prod: Environment) -> None:
    command = prod.hosts[1].unit("portal-purge.service")
    assert command.argv[-2:] == ["privacy", "purge"]
    if prod.network.namespaced:  # run where the host's other units run
        assert command.argv[:4] == ["ip", "netns", "exec", prod.network.namespaces[1]], command.argv
    env = base_environ()
    env.update(command.env)
    result = subprocess.run(command.argv, cwd=command.cwd, env=env, capture_output=True, text=True, timeout=120,
                            check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    timer = (DEPLOY / "systemd" / "portal-purge.timer").read_text()
    assert "OnCalendar=hourly" in timer and "Unit=portal-purge.service" in timer
