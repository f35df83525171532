"""Compose per language from the console: an optional subject and body for each language besides
the default, stored as the CLI stores them; each subscriber gets their language's copy, or the
default where the issue has none; the preview shows a chosen language without JavaScript."""

from __future__ import annotations

from sqlalchemy import update

from portal.accounts.models import User
from portal.extensions import db
from portal.mail.worker import deliver_due
from portal.newsletter import languages
from portal.newsletter.models import Issue
from tests.newsletter_support import make_subscribers
from tests.staff_console_support import issue_id_from, post, staff_client


def _readers(app) -> tuple[str, str]:
    with app.app_context():
        english, czech = make_subscribers(2)
        db.session.execute(update(User).where(User.email == czech).values(language="cs"))
        db.session.commit()
        db.session.remove()
    return english, czech


def _send(app, client, issue_id: int) -> None:
    page = f"/staff/newsletter/{issue_id}"
    assert post(client, f"{page}/send", page=page).status_code == 302
    with app.app_context():
        deliver_due(app)


def test_a_czech_text_reaches_the_czech_subscriber_and_english_the_english_one(make_app, smtp):
    app = make_app()
    english, czech = _readers(app)
    client = staff_client(app)
    page = client.get("/staff/newsletter/new").get_data(as_text=True)
    assert '<fieldset class="stack" lang="cs">' in page and "Čeština" in page
    created = post(client, "/staff/newsletter/new", {
        "subject": "December news", "body": "**Snow** soon.",
        "subject_cs": "Prosincové novinky", "body_cs": "Brzy **sníh**.",
    })
    assert created.status_code == 302
    issue_id = issue_id_from(created)
    with app.app_context():
        issue = db.session.get(Issue, issue_id)
        assert languages.texts_of(issue) == {"cs": ("Prosincové novinky", "Brzy **sníh**.")}
        db.session.remove()

    # The previews: the saved issue with ?lang=cs, and the draft with the language chosen.
    saved = client.get(f"/staff/newsletter/{issue_id}/preview?lang=cs").get_data(as_text=True)
    assert "<strong>sníh</strong>" in saved
    assert "<strong>Snow</strong>" in client.get(f"/staff/newsletter/{issue_id}/preview").get_data(as_text=True)
    draft = post(client, "/staff/newsletter/preview", {"subject": "S", "body": "English", "subject_cs": "P",
                                                        "body_cs": "Česky", "preview_language": "cs"})
    assert "Česky" in draft.get_data(as_text=True) and "English" not in draft.get_data(as_text=True)
    assert '?lang=cs#preview-h' in client.get(f"/staff/newsletter/{issue_id}").get_data(as_text=True)

    _send(app, client, issue_id)
    [to_czech] = smtp.to(czech)
    [to_english] = smtp.to(english)
    assert str(to_czech["Subject"]) == "Prosincové novinky"
    assert str(to_english["Subject"]) == "December news"


def test_without_a_czech_text_everyone_gets_the_default(make_app, smtp):
    app = make_app()
    english, czech = _readers(app)
    client = staff_client(app)
    issue_id = issue_id_from(post(client, "/staff/newsletter/new", {"subject": "Only English", "body": "Hello."}))
    assert "Preview in:" not in client.get(f"/staff/newsletter/{issue_id}").get_data(as_text=True)
    _send(app, client, issue_id)
    assert str(smtp.to(czech)[0]["Subject"]) == "Only English"
    assert str(smtp.to(english)[0]["Subject"]) == "Only English"


def test_a_half_filled_language_is_refused_and_an_edit_can_add_and_remove_it(make_app, smtp):
    app = make_app()
    client = staff_client(app)
    half = post(client, "/staff/newsletter/new", {"subject": "S", "body": "B", "subject_cs": "Jen předmět"})
    assert half.status_code == 400 and "in this language too" in half.get_data(as_text=True)
    issue_id = issue_id_from(post(client, "/staff/newsletter/new", {"subject": "S", "body": "B"}))
    edit = f"/staff/newsletter/{issue_id}/edit"
    added = post(client, edit, {"subject": "S", "body": "B", "subject_cs": "P", "body_cs": "T"}, page=edit)
    assert added.status_code == 302
    assert 'value="P"' in client.get(edit).get_data(as_text=True)
    with app.app_context():
        assert languages.texts_of(db.session.get(Issue, issue_id)) == {"cs": ("P", "T")}
        db.session.remove()
    assert post(client, edit, {"subject": "S", "body": "B"}, page=edit).status_code == 302
    with app.app_context():
        assert languages.texts_of(db.session.get(Issue, issue_id)) == {}
        db.session.remove()
