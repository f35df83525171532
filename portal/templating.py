"""Template helpers shared by every page and email."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Flask, current_app


def to_local(value: datetime) -> datetime:
    return value.astimezone(ZoneInfo(current_app.config["TIMEZONE"]))


def localtime(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A UTC timestamp in the portal's TIMEZONE, for people to read."""
    if value is None:
        return ""
    local = to_local(value)
    return f"{local.strftime(fmt)} {local.tzname()}"


def init_app(app: Flask) -> None:
    app.jinja_env.filters["localtime"] = localtime
