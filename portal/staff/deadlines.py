"""The clocks of the desk: GDPR Art. 12(3) answer deadlines and the Art. 33 72-hour clock.

Plain functions of their arguments (no app, no database), so the arithmetic is tested alone.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

MAX_EXTENSION_MONTHS = 2  # "may be extended by two further months where necessary"
BREACH_NOTIFY_WITHIN = timedelta(hours=72)  # Art. 33(1)


class DeadlineError(ValueError):
    """An extension the law does not allow. ``code`` says which rule (the desk words it)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code  # months | twice | reason | late


def add_months(moment: datetime, months: int, zone: ZoneInfo) -> datetime:
    """The same local day and time ``months`` calendar months later, clamped to the month's end.

    31 January + 1 month is 28 (or 29) February; the result keeps ``moment``'s time zone.
    """
    local = moment.astimezone(zone)
    index = local.month - 1 + months
    year, month = local.year + index // 12, index % 12 + 1
    day = min(local.day, calendar.monthrange(year, month)[1])
    # Through the wall clock: 10:00 in winter stays 10:00 local in summer.
    wall = local.replace(tzinfo=None).replace(year=year, month=month, day=day)
    return wall.replace(tzinfo=zone).astimezone(moment.tzinfo)


def extended_due(due: datetime, months: int, zone: ZoneInfo) -> datetime:
    """The deadline after an extension of ``months`` (1 or 2) further months.

    Counted from the original deadline, month by calendar month: 31 January is due on
    28 February, and extended by two months on 28 April — the earlier reading of "two further
    months", so an extended answer is never late by the other.
    """
    if not isinstance(months, int) or not 1 <= months <= MAX_EXTENSION_MONTHS:
        raise DeadlineError("months", f"An extension is 1 or {MAX_EXTENSION_MONTHS} months.")
    return add_months(due, months, zone)


def check_extension(*, already_extended: bool, reason: str, original_due: datetime, now: datetime) -> None:
    """Art. 12(3): once, with a reason, and told to the sender within the first month."""
    if already_extended:
        raise DeadlineError("twice", "This deadline was already extended; the law allows one extension.")
    if not reason.strip():
        raise DeadlineError("reason", "Give the reason for the extension: the sender is told it.")
    if now > original_due:
        raise DeadlineError("late", "The first month is over: an extension had to be announced before the deadline.")


@dataclass(frozen=True)
class Clock:
    """Time left until a deadline, or how far past it."""

    due: datetime
    seconds_left: int

    @property
    def overdue(self) -> bool:
        return self.seconds_left < 0

    @property
    def hours(self) -> int:
        return abs(self.seconds_left) // 3600

    @property
    def minutes(self) -> int:
        return abs(self.seconds_left) % 3600 // 60

    @property
    def days(self) -> int:
        return abs(self.seconds_left) // 86400


def clock(due: datetime, now: datetime) -> Clock:
    return Clock(due, int((due - now).total_seconds()))


def breach_due(discovered_at: datetime) -> datetime:
    """Art. 33(1): the supervisory authority is notified within 72 hours of becoming aware."""
    return discovered_at + BREACH_NOTIFY_WITHIN
