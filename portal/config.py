"""Settings: built-in defaults < ``instance/config.py`` < ``PORTAL_*`` environment variables.

The same resolver serves the app factory and ``gunicorn.conf.py`` so the process model and the
application can never disagree about, say, where the rate-limit counters live.
"""

from __future__ import annotations

import json
import os
import secrets
import types
from collections.abc import Mapping
from email.utils import parseaddr
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ENV_PREFIX = "PORTAL_"
PACKAGE_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INSTANCE_PATH = PACKAGE_ROOT / "instance"

DEFAULTS: dict[str, Any] = {
    "ENV": "development",
    "SECRET_KEY": None,
    # Optional separate pepper for password pre-hashing; derived from SECRET_KEY when unset.
    "PASSWORD_PEPPER": None,
    "DATABASE_URL": None,  # filled with the instance SQLite file
    "RATELIMIT_STORAGE_URI": "memory://",
    "TRUSTED_PROXY_COUNT": 0,
    # Peers (addresses or CIDR networks) whose X-Forwarded-* headers count; gunicorn's
    # forwarded_allow_ips is set from the same list (gunicorn.conf.py).
    "TRUSTED_PROXIES": ["127.0.0.1", "::1"],
    "BASE_URL": "http://127.0.0.1:8000",
    "SITE_NAME": "Portal",
    "DPO_EMAIL": None,
    "MAIL_SERVER": None,
    "MAIL_PORT": 25,
    "MAIL_USE_TLS": False,
    "MAIL_USE_SSL": False,
    "MAIL_USERNAME": None,
    "MAIL_PASSWORD": None,
    "MAIL_DEFAULT_SENDER": None,
    "MAIL_TIMEOUT": 30,
    # --- mail delivery ---
    # Temporary (4xx) failures are retried this long, as MTAs do (Postfix: 5 days).
    "MAIL_RETRY_FOR": 259200,
    # First retry after about this many seconds, doubling each time up to MAIL_RETRY_MAX_DELAY.
    "MAIL_RETRY_BASE": 60,
    "MAIL_RETRY_MAX_DELAY": 3600,
    # Messages per second across every delivery worker and host (counted in the rate-limit store).
    "MAIL_RATE": None,
    # Delivery threads in each web process (0: only `flask mail deliver` delivers), and how often
    # they look for due messages that another process queued.
    "MAIL_WORKER_THREADS": 1,
    "MAIL_POLL_INTERVAL": 1.0,
    # Envelope sender (Return-Path) of every message; bounces come back there. Each message's
    # local part carries a signed tag of its delivery (bounces+<tag>@domain, portal.mail.returnpath).
    "BOUNCE_ADDRESS": None,
    # --- bounces, complaints, DKIM (portal.mail.settings validates these) ---
    # Amazon SNS topics whose SES notifications POST /hooks/ses accepts (full ARNs).
    "SES_TOPIC_ARNS": [],
    "SES_HOOK_RATE_LIMIT": "600 per minute",
    # Tests only (refused in production): extra certificate hosts ("127.0.0.1:8443") and the CA
    # that signed their TLS certificate, so tests can serve SNS certificates on loopback.
    "SNS_CERT_HOSTS_FOR_TESTS": [],
    "SNS_CA_FILE_FOR_TESTS": None,
    # Temporary bounces of one address within MAIL_SOFT_BOUNCE_DAYS before it is suppressed.
    "MAIL_SOFT_BOUNCE_LIMIT": 5,
    "MAIL_SOFT_BOUNCE_DAYS": 30,
    # Bounce, complaint and delivery reports are kept this long (per-issue rates, soft-bounce counts).
    "MAIL_FEEDBACK_RETENTION_DAYS": 90,
    # DKIM signing of every outgoing message when all three are set.
    "DKIM_DOMAIN": None,
    "DKIM_SELECTOR": None,
    "DKIM_PRIVATE_KEY_FILE": None,
    # The relay delivers internationalised local parts (ü@example.org) with SMTPUTF8; without it
    # such addresses are refused at the form, because no message could ever reach them.
    "MAIL_SMTPUTF8": False,
    "MAIL_HELO_NAME": None,
    # Delivered and failed messages are kept this long (without their bodies) for reconciliation.
    "MAIL_LOG_RETENTION_DAYS": 30,
    # `flask privacy audit` fails when a DPO notification is still undelivered after this many seconds.
    "DPO_NOTIFICATION_MAX_DELAY": 3600,
    # --- end mail delivery ---
    "BCRYPT_ROUNDS": 12,
    "SESSION_IDLE_TIMEOUT": 21600,
    "SESSION_MAX_AGE": 86400,
    "LOGIN_RATE_LIMIT": "10 per minute;50 per hour",
    "SIGNUP_RATE_LIMIT": "10 per hour",
    "RESET_RATE_LIMIT": "5 per hour",
    "LOGIN_IP_RETENTION_DAYS": 90,
    "UNCONFIRMED_ACCOUNT_RETENTION_DAYS": 7,
    "TIMEZONE": "Europe/Prague",
    # How many gunicorn worker processes share this configuration (gunicorn.conf.py sets it).
    "WORKER_PROCESSES": 1,
    "LOG_LEVEL": "INFO",
    "METRICS_TOKEN": None,  # bearer token for GET /metrics (portal.metrics); unset: no endpoint
    # --- consent ---
    "GA_MEASUREMENT_ID": None,
    "GTM_CONTAINER_ID": None,
    "SMARTCHAT_KEY": None,
    "SMARTCHAT_SCRIPT_URL": None,
    "CONSENT_MAX_AGE_DAYS": 182,
    # Extra third-party services an operator declares without code changes (see README-consent.md):
    # a list of dicts with id, category, vendor, purpose, cookies, hosts and an optional script_url.
    "CONSENT_SERVICES": [],
    # Proof of consent (GDPR Art. 7(1)) is kept this long after the decision itself lapsed: three
    # years is the general limitation period of Czech civil law (§ 629 Civil Code) within which a
    # visitor or the ÚOOÚ may still question whether a cookie was set lawfully.
    "CONSENT_PROOF_RETENTION_DAYS": 1095,
    # --- end consent ---
    # --- newsletter ---
    "NEWSLETTER_MONTHLY_LIMIT": 1,
    # --- end newsletter ---
    # --- privacy ---
    # Answered data-protection inquiries are kept this long after the answer (proof that the
    # request was handled, GDPR Art. 5(2)), then deleted by `flask privacy purge`.
    "INQUIRY_RETENTION_DAYS": 365,
    # POST /privacy/contact per client IP (Flask-Limiter syntax).
    "INQUIRY_RATE_LIMIT": "5 per hour;20 per day",
    # How recent the password check must be for GET /account/export.
    "EXPORT_REAUTH_SECONDS": 300,
    # --- end privacy ---
}

INT_SETTINGS = {
    "TRUSTED_PROXY_COUNT": (0, 10),
    "MAIL_PORT": (1, 65535),
    "MAIL_TIMEOUT": (1, 600),
    "BCRYPT_ROUNDS": (4, 20),
    "SESSION_IDLE_TIMEOUT": (1, 366 * 86400),
    "SESSION_MAX_AGE": (1, 366 * 86400),
    "LOGIN_IP_RETENTION_DAYS": (1, 3650),
    "UNCONFIRMED_ACCOUNT_RETENTION_DAYS": (1, 365),
    "WORKER_PROCESSES": (1, 1024),
    "MAIL_RETRY_FOR": (60, 30 * 86400),
    "MAIL_RETRY_MAX_DELAY": (1, 86400),
    "MAIL_WORKER_THREADS": (0, 8),
    "MAIL_LOG_RETENTION_DAYS": (1, 3650),
    "DPO_NOTIFICATION_MAX_DELAY": (60, 30 * 86400),
    "MAIL_SOFT_BOUNCE_LIMIT": (1, 100),
    "MAIL_SOFT_BOUNCE_DAYS": (1, 365),
    "MAIL_FEEDBACK_RETENTION_DAYS": (1, 3650),
    # --- consent ---
    "CONSENT_MAX_AGE_DAYS": (1, 395),
    "CONSENT_PROOF_RETENTION_DAYS": (1, 3650),
    # --- end consent ---
    # --- newsletter ---
    "NEWSLETTER_MONTHLY_LIMIT": (0, 2),
    # --- end newsletter ---
    # --- privacy ---
    "INQUIRY_RETENTION_DAYS": (1, 3650),
    "EXPORT_REAUTH_SECONDS": (30, 3600),
    # --- end privacy ---
}
# Seconds or rates that may be fractional; None allowed where the default is None.
FLOAT_SETTINGS = {
    "MAIL_RETRY_BASE": (0.01, 86400.0),
    "MAIL_POLL_INTERVAL": (0.01, 60.0),
    "MAIL_RATE": (0.01, 100000.0),
}
BOOL_SETTINGS = ("MAIL_USE_TLS", "MAIL_USE_SSL", "MAIL_SMTPUTF8")
ENVIRONMENTS = ("development", "production")
PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "secret", "dev", "development", "please-change"}


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the setting in one line."""


def _parse_env_value(raw: str) -> Any:
    # Same rule as Flask's from_prefixed_env: JSON where it parses, the plain string otherwise.
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def read_instance_file(instance_path: Path) -> dict[str, Any]:
    path = instance_path / "config.py"
    if not path.is_file():
        return {}
    module = types.ModuleType("instance_config")
    module.__file__ = str(path)
    try:
        code = compile(path.read_bytes(), str(path), "exec")
        exec(code, module.__dict__)  # noqa: S102 - the operator's own settings file
    except Exception as exc:  # a broken settings file must name itself, not dump a traceback
        raise ConfigError(f"{path}: cannot be loaded ({type(exc).__name__}: {exc})") from exc
    return {k: v for k, v in vars(module).items() if k.isupper()}


def read_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, raw in environ.items():
        if name.startswith(ENV_PREFIX) and name != ENV_PREFIX + "INSTANCE_PATH":
            values[name[len(ENV_PREFIX) :]] = _parse_env_value(raw)
    return values


def instance_path_from(environ: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    return Path(environ.get(ENV_PREFIX + "INSTANCE_PATH") or DEFAULT_INSTANCE_PATH).resolve()


def resolve_settings(
    instance_path: Path,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Merge every source in order of precedence and validate the result."""
    environ = os.environ if environ is None else environ
    settings = dict(DEFAULTS)
    settings.update(read_instance_file(instance_path))
    settings.update(read_environment(environ))
    settings.update(overrides or {})
    return validate(settings, instance_path)


def _as_int(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ConfigError(f"{ENV_PREFIX}{key}: must be a whole number, got {value!r}")
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f"{ENV_PREFIX}{key}: must be a whole number, got {value!r}") from None
    low, high = INT_SETTINGS[key]
    if not low <= number <= high:
        raise ConfigError(f"{ENV_PREFIX}{key}: must be between {low} and {high}, got {number}")
    return number


def _as_float(key: str, value: Any) -> float:
    try:
        if isinstance(value, bool):
            raise ValueError
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{ENV_PREFIX}{key}: must be a number, got {value!r}") from None
    low, high = FLOAT_SETTINGS[key]
    if not low <= number <= high:  # also refuses NaN
        raise ConfigError(f"{ENV_PREFIX}{key}: must be between {low:g} and {high:g}, got {value!r}")
    return number


def _as_bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in {"1", "true", "yes", "on", "0", "false", "no", "off", ""}:
        return value.lower() in {"1", "true", "yes", "on"}
    if value in (0, 1):
        return bool(value)
    raise ConfigError(f"{ENV_PREFIX}{key}: must be true or false, got {value!r}")


def _as_networks(key: str, value: Any) -> list[str]:
    """A list of addresses/CIDR networks; a comma-separated string (an env variable) works too."""
    from portal.security.proxies import parse_networks

    if isinstance(value, str):
        value = [part for part in value.split(",") if part.strip()]
    if not isinstance(value, (list, tuple)) or not all(isinstance(entry, str) for entry in value):
        raise ConfigError(f"{ENV_PREFIX}{key}: must be a list of IP addresses or networks, got {value!r}")
    try:
        networks = parse_networks(value)
    except ValueError as error:
        raise ConfigError(f"{ENV_PREFIX}{key}: {error}") from None
    # A single host stays written as an address ("::1", not "::1/128"), as people write it.
    return [str(n.network_address) if n.prefixlen == n.max_prefixlen else str(n) for n in networks]


def _secret_from_instance(instance_path: Path, name: str) -> str:
    """Generate a development secret once and keep it in the instance folder, never in code."""
    path = instance_path / name
    if path.is_file():
        value = path.read_text().strip()
        if value:
            return value
    instance_path.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value


def validate(settings: dict[str, Any], instance_path: Path) -> dict[str, Any]:
    env = settings.get("ENV")
    if env not in ENVIRONMENTS:
        raise ConfigError(f"{ENV_PREFIX}ENV: must be one of {', '.join(ENVIRONMENTS)}, got {env!r}")
    production = env == "production"

    for key in INT_SETTINGS:
        settings[key] = _as_int(key, settings[key])
    for key in BOOL_SETTINGS:
        settings[key] = _as_bool(key, settings[key])
    for key in FLOAT_SETTINGS:
        if settings[key] is not None:
            settings[key] = _as_float(key, settings[key])

    secret = settings.get("SECRET_KEY")
    if secret is not None and not isinstance(secret, str):
        secret = str(secret)
    if not secret or secret.strip().lower() in PLACEHOLDER_SECRETS:
        if production:
            raise ConfigError(
                f"{ENV_PREFIX}SECRET_KEY: production needs a real secret "
                "(for example: python -c 'import secrets; print(secrets.token_urlsafe(48))')"
            )
        secret = _secret_from_instance(instance_path, "secret_key")
    elif production and len(secret) < 32:
        raise ConfigError(f"{ENV_PREFIX}SECRET_KEY: production needs at least 32 characters")
    settings["SECRET_KEY"] = secret

    base_url = str(settings.get("BASE_URL") or "")
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{ENV_PREFIX}BASE_URL: must be an absolute http(s) origin, got {base_url!r}")
    if production and parts.scheme != "https":
        raise ConfigError(f"{ENV_PREFIX}BASE_URL: production must use https, got {base_url!r}")
    settings["BASE_URL"] = base_url.rstrip("/")

    storage = str(settings.get("RATELIMIT_STORAGE_URI") or "")
    if "://" not in storage:
        raise ConfigError(f"{ENV_PREFIX}RATELIMIT_STORAGE_URI: not a storage URI: {storage!r}")
    if production and storage.startswith("memory://") and settings["WORKER_PROCESSES"] > 1:
        raise ConfigError(
            f"{ENV_PREFIX}RATELIMIT_STORAGE_URI: memory:// counts per process, but "
            f"{settings['WORKER_PROCESSES']} worker processes run; use redis://"
        )

    settings["TRUSTED_PROXIES"] = _as_networks("TRUSTED_PROXIES", settings.get("TRUSTED_PROXIES"))

    database_url = settings.get("DATABASE_URL") or f"sqlite:///{instance_path / 'portal.sqlite3'}"
    if not isinstance(database_url, str) or "://" not in database_url:
        raise ConfigError(f"{ENV_PREFIX}DATABASE_URL: not a database URL: {database_url!r}")
    if database_url.startswith(("postgres://", "postgresql://")):
        # psycopg 3 is the driver we ship; the bare scheme would pick psycopg2.
        database_url = "postgresql+psycopg://" + database_url.split("://", 1)[1]
    settings["DATABASE_URL"] = database_url

    site_name = settings.get("SITE_NAME")
    if not isinstance(site_name, str) or not site_name.strip() or len(site_name) > 100 or any(
        ord(ch) < 32 or ord(ch) == 127 for ch in site_name
    ):
        # It goes into every email subject: a line break there would break (or forge) headers.
        raise ConfigError(f"{ENV_PREFIX}SITE_NAME: must be 1-100 printable characters on one line")
    for key in ("DPO_EMAIL", "MAIL_DEFAULT_SENDER", "BOUNCE_ADDRESS", "MAIL_HELO_NAME"):
        value = settings.get(key)
        if value is not None and (not isinstance(value, str) or any(ord(ch) < 32 for ch in value)):
            raise ConfigError(f"{ENV_PREFIX}{key}: must be one line of text, got {value!r}")
    dpo = settings.get("DPO_EMAIL")
    if dpo:
        from email_validator import EmailNotValidError, validate_email

        try:
            validate_email(dpo, check_deliverability=False)
        except EmailNotValidError as error:
            raise ConfigError(f"{ENV_PREFIX}DPO_EMAIL: not an email address ({error})") from None

    tz = settings.get("TIMEZONE")
    try:
        from zoneinfo import ZoneInfo

        ZoneInfo(str(tz))
    except Exception:
        raise ConfigError(f"{ENV_PREFIX}TIMEZONE: unknown time zone {tz!r}") from None

    from limits import parse_many

    for key in ("LOGIN_RATE_LIMIT", "SIGNUP_RATE_LIMIT", "RESET_RATE_LIMIT"):
        rate = settings.get(key)
        try:
            if not isinstance(rate, str) or not parse_many(rate):
                raise ValueError
        except ValueError:
            raise ConfigError(f"{ENV_PREFIX}{key}: not a rate limit like '10 per minute', got {rate!r}") from None

    pepper = settings.get("PASSWORD_PEPPER")
    if pepper is not None and (not isinstance(pepper, str) or len(pepper) < 16):
        raise ConfigError(f"{ENV_PREFIX}PASSWORD_PEPPER: must be a string of at least 16 characters")

    settings["PRODUCTION"] = production
    return settings


def flask_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Translate portal settings into the keys Flask and its extensions read."""
    production = settings["PRODUCTION"]
    sender = settings.get("MAIL_DEFAULT_SENDER") or f"{settings['SITE_NAME']} <no-reply@{_host(settings)}>"
    return {
        "SQLALCHEMY_DATABASE_URI": settings["DATABASE_URL"],
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "SQLALCHEMY_TRACK_MODIFICATIONS": False,
        "SESSION_COOKIE_NAME": "__Host-session" if production else "session",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": production,
        "SESSION_COOKIE_PATH": "/",
        # The signed Flask cookie only carries the CSRF token and flash messages; logins live in
        # the server-side session table. Browser-session lifetime keeps it from lingering.
        "SESSION_REFRESH_EACH_REQUEST": False,
        "PREFERRED_URL_SCHEME": "https" if production else "http",
        "MAX_CONTENT_LENGTH": 1024 * 1024,
        "MAX_FORM_MEMORY_SIZE": 256 * 1024,
        "WTF_CSRF_TIME_LIMIT": None,  # bound to the browser session instead of a clock
        "WTF_CSRF_SSL_STRICT": production,
        "RATELIMIT_STORAGE_URI": settings["RATELIMIT_STORAGE_URI"],
        "RATELIMIT_HEADERS_ENABLED": True,
        "RATELIMIT_SWALLOW_ERRORS": True,
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        "REMEMBER_COOKIE_DURATION": 0,
        "MAIL_DEFAULT_SENDER": sender,
        # MAIL FROM when no BOUNCE_ADDRESS is set: the address part of the From header.
        "MAIL_ENVELOPE_SENDER": _envelope_sender(sender, settings),
        "MAIL_SUPPRESS_SEND": False,
        "MAIL_ASCII_ATTACHMENTS": False,
    }


def _envelope_sender(sender: str, settings: Mapping[str, Any]) -> str:
    address = parseaddr(sender)[1]
    if address.count("@") == 1 and address.isascii() and " " not in address:
        return address
    return f"no-reply@{_host(settings)}"


def _host(settings: Mapping[str, Any]) -> str:
    return urlsplit(settings["BASE_URL"]).hostname or "localhost"
