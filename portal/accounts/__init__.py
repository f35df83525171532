"""Accounts: signup, confirmation, login sessions, password reset, account settings."""

from flask import Flask


def init_app(app: Flask) -> None:
    from portal.accounts import personal_data, ratelimit, sessions
    from portal.accounts.cli import cli
    from portal.accounts.views import bp

    app.register_blueprint(bp)
    app.register_blueprint(cli)
    ratelimit.init_app(app)
    sessions.init_app(app)
    personal_data.register()
