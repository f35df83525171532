"""Template helpers shared by every page and email."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from flask import Flask, current_app, url_for

from portal.static_files import content_hash


def to_local(value: datetime) -> datetime:
    return value.astimezone(ZoneInfo(current_app.config["TIMEZONE"]))


def localtime(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A UTC timestamp in the portal's TIMEZONE, for people to read."""
    if value is None:
        return ""
    local = to_local(value)
    return f"{local.strftime(fmt)} {local.tzname()}"


def asset(filename: str) -> str:
    """The URL of a file under portal/static, versioned by its content (``?v=<hash>``).

    The URL changes whenever the file does, so the static files can be cached for a year as
    immutable (see portal.static_files) and a new release is still picked up at once.
    """
    version = content_hash(Path(current_app.static_folder or "", filename))
    if version is None:
        return url_for("static", filename=filename)
    return url_for("static", filename=filename, v=version)


def init_app(app: Flask) -> None:
    app.jinja_env.filters["localtime"] = localtime
    app.jinja_env.globals["asset"] = asset
