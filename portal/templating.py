"""Template helpers shared by every page and email."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from flask import Flask, current_app, url_for

from portal.contributions import collection
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


def _fragments(app: Flask | None = None) -> dict[str, list[tuple[int, str]]]:
    return collection("fragments", app, list)


def register_fragment(app: Flask, slot: str, template: str, order: int = 100) -> None:
    """Let another area's page show ``template`` at ``slot`` (e.g. "account.overview").

    The page renders ``{% for t in fragments("slot") %}{% include t %}{% endfor %}``: it need not
    know which areas exist, and an area that is not installed leaves nothing behind.
    """
    entries = _fragments(app).setdefault(slot, [])
    if (order, template) not in entries:
        entries.append((order, template))
        entries.sort()


def fragments(slot: str) -> list[str]:
    return [template for _, template in _fragments().get(slot, [])]


def init_app(app: Flask) -> None:
    app.jinja_env.filters["localtime"] = localtime
    app.jinja_env.globals["asset"] = asset
    app.jinja_env.globals["fragments"] = fragments
