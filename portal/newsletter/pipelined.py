"""One message over a real SMTP connection, with the database commit overlapping the envelope.

Nothing is handed over before the end of DATA: MAIL FROM and RCPT TO only ask the server whether
it would take a message. So the row's "sending" mark (and the previous message's "sent" mark) is
committed on a worker thread while those two round trips run, and the body is sent only once the
commit has succeeded. The guarantee is unchanged — committed "sending" before the handover,
"sent" right after acceptance — and the commit no longer adds to each message's time.
"""

from __future__ import annotations

import smtplib
from typing import TYPE_CHECKING, Any

from portal.newsletter.subscriptions import unsubscribe_token

if TYPE_CHECKING:
    from portal.newsletter.sender import Sender


def send(sender: Sender, host: smtplib.SMTP, conn: Any, delivery_id: int, recipient: tuple[int, str, str]) -> None:
    from portal.newsletter.sender import _ConnectionLost, _describe

    user_id, email, key = recipient
    marked = sender.pool.submit(sender.mark_sending, delivery_id, key)
    refusal: smtplib.SMTPException | None = None
    try:
        url = f"{sender.base_url}/newsletter/unsubscribe/{unsubscribe_token(user_id, key)}"
        message = sender.messages.build(email, url)
        host.ehlo_or_helo_if_needed()
        code, reply = host.mail(message.sender)
        if code != 250:
            refusal = smtplib.SMTPSenderRefused(code, reply, message.sender)
        else:
            code, reply = host.rcpt(email)
            if code not in (250, 251):
                refusal = smtplib.SMTPRecipientsRefused({email: (code, reply)})
    except (smtplib.SMTPException, OSError) as error:
        # The connection failed before anything was handed over.
        if marked.result():
            sender._not_accepted(delivery_id, _describe(error))
        raise _ConnectionLost() from error
    if not marked.result():
        # Unsubscribed, unconfirmed, address changed or no longer ours: abandon this envelope.
        host.rset()
        again = sender._why_not(delivery_id)
        if again is not None:
            sender._send_one(conn, delivery_id, *again)
        return
    if refusal is not None:
        host.rset()
        if isinstance(refusal, smtplib.SMTPSenderRefused) or getattr(refusal, "smtp_code", 0) == 421:
            sender._not_accepted(delivery_id, _describe(refusal))
            raise _ConnectionLost() from refusal
        sender._rejected(delivery_id, _describe(refusal))
        return
    _hand_over(sender, host, delivery_id, message.as_bytes())


def _hand_over(sender: Sender, host: smtplib.SMTP, delivery_id: int, raw: bytes) -> None:
    from portal.newsletter.sender import _ConnectionLost, _describe

    try:
        code, reply = host.data(raw)
    except smtplib.SMTPDataError as error:  # DATA itself refused: the body was never sent
        if error.smtp_code == 421:
            sender._not_accepted(delivery_id, _describe(error))
            raise _ConnectionLost() from error
        host.rset()
        sender._rejected(delivery_id, _describe(error))
        return
    except (smtplib.SMTPException, OSError) as error:  # TimeoutError is an OSError
        sender.connection_failed(delivery_id, error)
    if code == 250:
        sender.accepted(delivery_id)
        return
    error = smtplib.SMTPDataError(code, reply)
    if code == 421:
        sender._not_accepted(delivery_id, _describe(error))
        raise _ConnectionLost() from error
    sender._rejected(delivery_id, _describe(error))
