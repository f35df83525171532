"""The language switcher: ``POST /language`` sets the language cookie and, signed in, the account's."""

from flask import Flask

from portal import ratelimit


def init_app(app: Flask) -> None:
    from flask_babel import lazy_gettext as _l

    from portal.language.views import bp

    app.register_blueprint(bp)
    ratelimit.limit(app, "language.choose", "60 per minute",
                    _l("Too many language changes were sent from your network."))
