"""Newsletter copies as a kind of mail: built at send time, guarded at the last moment.

A copy's row holds no address: ``prepare`` reads each subscriber's current address right before
the batch goes out and builds the personal message (their own unsubscribe link). ``STILL_WANTED``
is checked in the very statement that marks the copy "sending": an active subscription of a
confirmed account whose address is still the one the message was built for.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, bindparam, select

from portal import i18n
from portal.accounts.models import User
from portal.appctx import current_app_object
from portal.extensions import db
from portal.links import external_url
from portal.mail import Kind, returnpath
from portal.mail.feedback_models import Suppression
from portal.mail.kinds import Prepared
from portal.mail.models import Delivery
from portal.newsletter import languages
from portal.newsletter.issues import KIND
from portal.newsletter.models import Issue, Subscription
from portal.newsletter.render import MessageFactory, render_issue
from portal.newsletter.subscriptions import unsubscribe_mailto, unsubscribe_token

STILL_WANTED = and_(
    select(Subscription.user_id)
    .join(User, User.id == Subscription.user_id)
    .where(
        Subscription.user_id == Delivery.user_id,
        Subscription.active.is_(True),
        User.confirmed_at.is_not(None),
        User.email_key == bindparam("key"),
    )
    .exists(),
    # Suppressed a moment ago (a bounce or complaint arriving mid-send): the engine's check at
    # prepare time has already passed, this one is in the statement that marks "sending".
    ~select(Suppression.id).where(Suppression.address == bindparam("key")).exists(),
)

_RECIPIENTS = select(User.id, User.email, User.email_key, User.language).where(
    User.id.in_(bindparam("ids", expanding=True))
)

# Rendering an issue costs milliseconds; a send prepares hundreds of batches of the same issue.
# One per language: the subscriber's language, or DEFAULT_LANGUAGE where they chose none.
_factories: OrderedDict[tuple[int, int, str, str], MessageFactory] = OrderedDict()


def _factory(issue_id: int, language: str | None) -> MessageFactory | None:
    app = current_app_object()
    language = i18n.offered(language) or str(app.config["DEFAULT_LANGUAGE"])
    key = (id(app), issue_id, str(app.config["BASE_URL"]), language)
    factory = _factories.get(key)
    if factory is None:
        issue = db.session.get(Issue, issue_id)
        if issue is None:
            return None
        subject, body = languages.text_for(issue, language)
        with i18n.language_of(language=language):  # the footer and links around the body too
            factory = MessageFactory(render_issue(subject, body))
        _factories[key] = factory
        while len(_factories) > 8 * len(app.config["LANGUAGES"]):
            _factories.popitem(last=False)
    return factory


def prepare(rows: Sequence[Any]) -> dict[int, Prepared]:
    users = {uid: (email, key, language) for uid, email, key, language in
             db.session.execute(_RECIPIENTS, {"ids": [r.user_id for r in rows if r.user_id]}).all()}
    db.session.rollback()
    paths = returnpath.current()
    ready: dict[int, Prepared] = {}
    for row in rows:
        recipient = users.get(row.user_id)
        factory = _factory(row.issue_id, recipient[2]) if row.issue_id is not None and recipient else None
        if recipient is None or factory is None:
            continue  # erased meanwhile: skipped
        email, key, _language = recipient
        url = external_url("newsletter.unsubscribe_page", token=unsubscribe_token(row.user_id, key))
        built = factory.build(email, url, unsubscribe_mailto(paths, row.user_id, key))
        ready[row.id] = Prepared(built.envelope_to, built.raw, built.message_id, built.smtputf8, key)
    return ready


def kind() -> Kind:
    return Kind(KIND, "newsletter copies", prepare=prepare, guard=STILL_WANTED, bulk=True)
