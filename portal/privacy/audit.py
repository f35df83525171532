"""The data-protection desk in ``flask privacy audit``: a valid DPO address that mail reaches, deadlines kept."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email
from flask import Flask

from portal import audit
from portal.audit import Result, setting
from portal.privacy import inquiries


def check_dpo_contact() -> Result:
    name = "dpo-contact"
    address = setting("DPO_EMAIL")
    stranded = inquiries.unnotified_count()
    tail = f"; {stranded} stored inquiry(ies) never reached a DPO" if stranded else ""
    if not address:
        return Result(name, False, f"DPO_EMAIL is not set: the policy's contact address is blank{tail}")
    try:
        validate_email(str(address), check_deliverability=False)
    except EmailNotValidError as error:
        return Result(name, False, f"DPO_EMAIL is not a valid address: {error}")
    return Result(name, stranded == 0, f"DPO_EMAIL is {address}{tail}")


def check_dpo_notifications_delivered() -> Result:
    """An inquiry with a legal deadline whose notice has not reached the DPO's mail server."""
    from portal.mail.status import undelivered_older_than

    age = int(str(setting("DPO_NOTIFICATION_MAX_DELAY")))
    late = undelivered_older_than("privacy.dpo", age)
    if late:
        return Result("dpo-notifications", False,
                      f"{late} DPO notification(s) still undelivered after {age} s (`flask mail status`)")
    return Result("dpo-notifications", True, f"every DPO notification older than {age} s was delivered")


def check_inquiry_deadlines() -> Result:
    late = inquiries.overdue_count()
    if late:
        return Result("inquiry-deadlines", False, f"{late} open inquiry(ies) are past their one-month deadline")
    return Result("inquiry-deadlines", True, f"{inquiries.open_count()} open inquiry(ies), none overdue")


def init_app(app: Flask) -> None:
    audit.register(app, check_dpo_contact, 70)
    audit.register(app, check_dpo_notifications_delivered, 80)
    audit.register(app, check_inquiry_deadlines, 90)
