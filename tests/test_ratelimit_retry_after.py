"""Retry-After and the 429 page give the real wait: the latest reset among exhausted limits.

With "10 per minute;50 per hour" and the hour spent, Flask-Limiter names the minute limit
when it refuses first, and the page said "about 30 seconds" while nothing would pass for up
to an hour.
"""

from __future__ import annotations

import re
import time

from tests.accounts_support import login, set_ip

WRONG = "not the right password"


def test_retry_after_covers_the_longest_exhausted_limit(make_app, smtp):
    app = make_app(LOGIN_RATE_LIMIT="2 per 2 second;3 per hour")
    client = set_ip(app.test_client(), "198.51.100.120")
    assert [login(client, f"r{i}@example.com", WRONG).status_code for i in range(2)] == [400, 400]
    time.sleep(2.2)  # a fixed window starts at its first hit: this one is over
    assert login(client, "r2@example.com", WRONG).status_code == 400  # the hour's third and last
    refused = [login(client, f"r{i}@example.com", WRONG) for i in range(3, 5)]  # 2nd is over the 2 s one too
    for response in refused:
        assert response.status_code == 429
        retry_after = int(response.headers["Retry-After"])
        assert 3000 < retry_after <= 3600, retry_after
        page = response.get_data(as_text=True)
        minutes = int(re.search(r"Please wait about (\d+) minutes", page).group(1))
        assert minutes == (retry_after + 59) // 60


def test_retry_after_is_the_short_window_when_only_it_is_spent(make_app, smtp):
    app = make_app(LOGIN_RATE_LIMIT="2 per minute;50 per hour")
    client = set_ip(app.test_client(), "198.51.100.121")
    assert [login(client, f"s{i}@example.com", WRONG).status_code for i in range(3)] == [400, 400, 429]
    refused = login(client, "s9@example.com", WRONG)
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert re.search(r"Please wait about \d+ seconds?", refused.get_data(as_text=True))


def test_a_waited_out_retry_after_is_honoured(make_app, smtp):
    # Retry-After must not be too long either: after it, the next attempt is allowed.
    app = make_app(LOGIN_RATE_LIMIT="1 per 2 second;10 per hour")
    client = set_ip(app.test_client(), "198.51.100.122")
    assert login(client, "w0@example.com", WRONG).status_code == 400
    refused = login(client, "w1@example.com", WRONG)
    assert refused.status_code == 429
    time.sleep(int(refused.headers["Retry-After"]))
    assert login(client, "w2@example.com", WRONG).status_code == 400
