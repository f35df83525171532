"""The language switcher: ``POST /language`` sets the language cookie and, signed in, the account's."""

from flask import Flask

from portal import ratelimit


def init_app(app: Flask) -> None:
    from portal.language.views import bp
    from portal.translate import lazy_gettext as _l

    app.register_blueprint(bp)
    ratelimit.limit(app, "language.choose", "60 per minute",
                    _l("Too many language changes were sent from your network."))
