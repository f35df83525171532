"""The privacy blueprint package (see the matching issue)."""

from flask import Flask


def init_app(app: Flask) -> None:
    """Register this area's blueprint, commands and hooks on the app."""
