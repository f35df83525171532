"""Consent statistics: accept / reject / custom per revision and per ISO week, added up in SQL,
with no single decision, consent id or person on the page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from portal.extensions import db
from tests.consent_support import ALL_VENDORS, decide
from tests.privacy_support import browser
from tests.staff_support import staff_client

DECISIONS = [
    # (decided at, action, revision)
    (datetime(2026, 12, 28, 0, 5, tzinfo=UTC), "accept_all", "r1"),  # Monday of 2026-W53
    (datetime(2026, 12, 31, 12, 0, tzinfo=UTC), "reject_all", "r1"),
    (datetime(2027, 1, 3, 23, 59, tzinfo=UTC), "save", "r1"),  # Sunday: still 2026-W53
    (datetime(2027, 1, 4, 0, 0, tzinfo=UTC), "accept_all", "r2"),  # Monday: 2027-W01
    (datetime(2027, 1, 5, 8, 0, tzinfo=UTC), "accept_all", "r2"),
    (datetime(2027, 1, 10, 8, 0, tzinfo=UTC), "reject_all", "r2"),
]


def _seed(app):
    from portal.consent.models import ConsentRecord, ConsentSnapshot

    with app.app_context():
        snapshot = ConsentSnapshot(digest="d" * 64, revision="r1", banner_text="b", registry_json="{}",
                                   policy_name="p", policy_text="t")
        db.session.add(snapshot)
        db.session.flush()
        for n, (at, action, revision) in enumerate(DECISIONS):
            db.session.add(ConsentRecord(consent_id=f"secret-consent-id-{n}", decided_at=at,
                                         expires_at=at + timedelta(days=365), action=action, revision=revision,
                                         snapshot_id=snapshot.id))
        db.session.commit()


def test_counts_per_revision_and_iso_week(app):
    from portal.staff import stats

    _seed(app)
    with app.app_context():
        revisions = {r.label: r.counts for r in stats.by_revision()}
        assert revisions == {"r1": {"accept": 1, "reject": 1, "custom": 1},
                             "r2": {"accept": 2, "reject": 1, "custom": 0}}
        weeks = [(r.label, r.counts, r.total) for r in stats.by_week()]
        assert weeks == [
            ("2027-W01", {"accept": 2, "reject": 1, "custom": 0}, 3),
            ("2026-W53", {"accept": 1, "reject": 1, "custom": 1}, 3),
        ]
        total = stats.totals(stats.by_revision())
        assert total.counts == {"accept": 3, "reject": 2, "custom": 1} and total.total == 6


def test_the_page_shows_aggregates_only(make_app, smtp):
    app = make_app(**ALL_VENDORS)  # with services to consent to, the banner and its form exist
    _seed(app)
    visitor = browser(app)
    assert decide(visitor, "reject_all").status_code in (302, 303)
    staff = staff_client(app)
    page = staff.get("/staff/consent").get_data(as_text=True)
    assert "2026-W53" in page and "2027-W01" in page and "7 decisions" in page
    assert "secret-consent-id" not in page and "consent_id" not in page


def test_an_empty_record_says_so(app, smtp):
    page = staff_client(app).get("/staff/consent").get_data(as_text=True)
    assert "No consent decision recorded yet" in page
