"""What the production-shape tests do as visitors: sign up, read mail, post logins, read nginx's log."""

from __future__ import annotations

import time

from tests.production.harness import Environment, Host
from tests.production.units import wait_until

WRONG = "not the password at all 99"
# A signup that went through: the "check your inbox" page, or a redirect to it (post/redirect/get).
SIGNED_UP = (200, 303)


def confirmation_link(env: Environment, email: str, timeout: float = 15) -> str:
    from tests.helpers import links

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


def bring_back(env: Environment, host: Host) -> None:
    """Start a killed host again and wait until nginx sends it requests (after fail_timeout)."""
    host.start_web()
    client = env.client("127.0.0.73")

    def served_again() -> bool:
        mark = log_mark(env)
        for _ in range(4):
            client.get("/healthz")
        return host.bind in upstreams_since(env, mark, "GET", "/healthz")

    wait_until(served_again, 30, f"nginx to send requests to {host.name} again", interval=1)
