"""Bad input from staff themselves: every console field and route parameter, known-bad values,
with and without a valid token, on a draft and on a started issue. Never a 5xx."""

from __future__ import annotations

import logging
import re

from portal.extensions import db as _db
from portal.newsletter import issues
from tests.helpers import csrf_token
from tests.newsletter_support import make_issue, make_subscribers
from tests.staff_console_support import staff_client
from tests.test_fuzz import FORMS, NASTY, PROBE_FOUND


def test_no_console_endpoint_answers_bad_input_with_a_5xx(make_app, smtp, caplog):
    app = make_app(TEST_DELIVER_AFTER_REQUEST=False)
    with app.app_context():
        make_subscribers(2)
        draft, started = make_issue("Draft"), make_issue("Started")
        issues.start_issue(started)
        _db.session.remove()
    client = staff_client(app)
    token = csrf_token(client, "/staff/newsletter/new")
    values = [*NASTY[::3], "2027-01-05T09:00", "delivered", "resend", "failed", "uncertain", "1", "y"]
    rules = [r for r in app.url_map.iter_rules() if r.rule.startswith(("/staff/newsletter", "/staff/mail"))]
    for rule in rules:
        fields = FORMS[rule.endpoint]
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            for issue in (str(draft), str(started), "\u0661", "99999", "x" * 300):
                path = re.sub(r"<[^>]+>", issue, rule.rule)
                for value in values if fields else [""]:
                    form = {name: value for name in fields}
                    for name in [n for n in fields if "-" in n][:1]:
                        form[name.split("-")[0] + "-csrf_token"] = token
                    form["csrf_token"] = token
                    with caplog.at_level(logging.ERROR, logger="portal"):
                        response = client.open(path, method=method, data=form if method == "POST" else None,
                                               query_string=form if method == "GET" else None)
                    body = response.get_data(as_text=True)
                    assert response.status_code < 500, (method, path, form)
                    assert "Traceback" not in body
                    if "html" in (response.content_type or ""):
                        assert not PROBE_FOUND.search(body), (method, path, form)
                    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
