"""portal: a privacy-first account portal. ``create_app`` builds it from a few named steps."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from inspect import iscoroutinefunction
from pathlib import Path
from typing import Any

from flask import Flask

from portal import config as config_module
from portal import db as db_module
from portal import errors, i18n, log, metrics, page_cache, ratelimit, session_cookie, static_files, templating
from portal import extensions as ext
from portal.config import ConfigError
from portal.security import audit as security_audit
from portal.security import headers, proxies

__all__ = ["ConfigError", "PortalFlask", "create_app"]

# Views, hooks and handlers a process has: a few hundred. Past this, answers are not remembered.
SYNC_ANSWERS_CAP = 2048


class PortalFlask(Flask):
    """Flask, remembering which functions are plain ``def``.

    Flask asks ``ensure_sync`` of every hook, view and handler on every request (about twenty
    for a page) and each answer inspects the function's code flags again: 3 % of a kept public
    page. Functions do not change from sync to async, so the answer per function is kept; Flask
    documents this method as the one to override.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sync_functions: dict[Callable[..., Any], bool] = {}

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        try:
            plain = self.sync_functions.get(func)
        except TypeError:  # an unhashable callable: asked every time, as Flask does
            return super().ensure_sync(func)
        if plain is None:
            plain = not iscoroutinefunction(func)
            if len(self.sync_functions) < SYNC_ANSWERS_CAP:
                self.sync_functions[func] = plain
        return func if plain else self.async_to_sync(func)


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    overrides = dict(overrides or {})
    instance_path = Path(overrides.pop("INSTANCE_PATH", None) or config_module.instance_path_from())
    app = PortalFlask(
        __name__,
        template_folder="../templates",
        instance_path=str(instance_path),
        instance_relative_config=True,
    )
    load_config(app, overrides)
    configure_logging(app)
    static_files.init_app(app)  # inside the proxy fix, which wraps it below
    apply_proxy_fix(app)
    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    check_database(app)
    return app


def load_config(app: Flask, overrides: Mapping[str, Any]) -> None:
    settings = config_module.resolve_settings(Path(app.instance_path), overrides)
    app.config.update(settings)
    app.config.update(config_module.flask_settings(settings))
    # Anything Flask-specific the caller passed (TESTING, WTF_CSRF_ENABLED, ...) wins last.
    app.config.update({k: v for k, v in overrides.items() if k not in settings})


def configure_logging(app: Flask) -> None:
    log.configure(app.config["LOG_LEVEL"])


def apply_proxy_fix(app: Flask) -> None:
    count = app.config["TRUSTED_PROXY_COUNT"]
    if count:
        networks = proxies.parse_networks(app.config["TRUSTED_PROXIES"])
        app.wsgi_app = proxies.TrustedProxyFix(app.wsgi_app, networks, count)  # type: ignore[method-assign]


def register_extensions(app: Flask) -> None:
    session_cookie.init_app(app)
    ext.db.init_app(app)
    db_module.init_app(app)
    ext.migrate.init_app(app, ext.db, directory=str(Path(__file__).resolve().parent.parent / "migrations"))
    ext.login_manager.init_app(app)
    ratelimit.init_app(app)
    ext.mail.init_app(app)
    ext.csrf.init_app(app)
    headers.init_app(app)
    security_audit.init_app(app)
    templating.init_app(app)
    i18n.init_app(app)
    metrics.init_app(app)


def register_blueprints(app: Flask) -> None:
    from portal import accounts, consent, language, mail, mfa, newsletter, ops, privacy, staff
    from portal.main.views import bp as main_bp

    app.register_blueprint(main_bp)
    for area in (mail, accounts, consent, newsletter, privacy, staff, mfa, ops, language):
        area.init_app(app)
    # Last: its before_request hook must run after every other one, its after_request first.
    page_cache.init_app(app)


def register_errorhandlers(app: Flask) -> None:
    errors.init_app(app)


def check_database(app: Flask) -> None:
    if not app.config.get("CHECK_DATABASE_AT_START", True):
        return
    with app.app_context():
        if not db_module.database_answers():
            raise ConfigError(
                f"{config_module.ENV_PREFIX}DATABASE_URL: the database does not answer "
                f"({ext.db.engine.url.render_as_string(hide_password=True)})"
            )
