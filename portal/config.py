"""Settings: built-in defaults < ``instance/config.py`` < ``PORTAL_*`` environment variables.

The same resolver serves the app factory and ``gunicorn.conf.py`` so the process model and the
application can never disagree about, say, where the rate-limit counters live.

Every setting is declared once below, in its area's section: key, default, type and range, and a
line for people. ``DEFAULTS``, the type checks and the table in ``docs/configuration.md``
(``python -m portal.settings_doc``) all come from these declarations. They live here rather than
in the areas' packages because they must be known before ``create_app`` runs (gunicorn.conf.py
resolves them in the master process), and importing an area package would import its Flask code.
"""

from __future__ import annotations

import json
import os
import secrets
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parseaddr
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ENV_PREFIX = "PORTAL_"
PACKAGE_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INSTANCE_PATH = PACKAGE_ROOT / "instance"
ENVIRONMENTS = ("development", "production")
PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "secret", "dev", "development", "please-change"}


@dataclass(frozen=True)
class Setting:
    """One setting: what it is called, what it is without configuration, and what it means.

    ``kind`` says how ``validate`` coerces it before the area checks run: ``int`` and ``float``
    within ``bounds`` (a float may stay None), ``bool``, ``line`` (None or one line of text), or
    ``value`` (left to the area's own check). ``shown_default`` is how the docs show a default that
    is only worked out at start-up.
    """

    key: str
    default: Any
    meaning: str
    kind: str = "value"
    bounds: tuple[Any, Any] | None = None
    shown_default: str | None = None


def _int(key: str, default: int, low: int, high: int, meaning: str, shown: str | None = None) -> Setting:
    return Setting(key, default, meaning, "int", (low, high), shown)


def _float(key: str, default: float | None, low: float, high: float, meaning: str) -> Setting:
    return Setting(key, default, meaning, "float", (low, high))


def _bool(key: str, meaning: str) -> Setting:
    return Setting(key, False, meaning, "bool")


def _line(key: str, meaning: str) -> Setting:
    return Setting(key, None, meaning, "line")


DAY = 86400

# --- core: environment, secrets, storage, proxies, identity ---------------------------------------
CORE_SETTINGS = (
    Setting("ENV", "development", '`"production"` requires a real `SECRET_KEY` (at least 32 characters) and an '
            "https `BASE_URL`, and switches cookies to `Secure` with the `__Host-` prefix and adds HSTS"),
    Setting("SECRET_KEY", None, "signs cookies and the links in emails",
            shown_default="generated once into `instance/secret_key` in development"),
    Setting("DATABASE_URL", None, "any SQLAlchemy URL; `postgresql+psycopg://user@host/db` in production "
            "(`postgresql://` is accepted and mapped to psycopg 3)",
            shown_default="`sqlite:///<instance>/portal.sqlite3`"),
    Setting("RATELIMIT_STORAGE_URI", "memory://", "where rate-limit counters live; `redis://host:6379/0` once "
            "more than one worker process runs"),
    _int("TRUSTED_PROXY_COUNT", 0, 0, 10, "reverse proxies in front of gunicorn; 0 = use the socket address "
         "and ignore `X-Forwarded-*`"),
    # gunicorn's forwarded_allow_ips is set from the same list (gunicorn.conf.py).
    Setting("TRUSTED_PROXIES", ["127.0.0.1", "::1"], "peer addresses or CIDR networks whose `X-Forwarded-*` "
            "headers count (with `TRUSTED_PROXY_COUNT`); a comma-separated list in the environment; also "
            "gunicorn's `forwarded_allow_ips`"),
    Setting("BASE_URL", "http://127.0.0.1:8000", "absolute origin used in links inside emails"),
    Setting("SITE_NAME", "Portal", "the portal's name in pages, emails and the policy text (1 to 100 printable "
            "characters on one line)"),
    Setting("DPO_EMAIL", None, "where data-protection inquiries and violation reports go", "line"),
    Setting("TIMEZONE", "Europe/Prague", "calendar months and the times shown to people"),
    Setting("LANGUAGES", ["en", "cs"], "languages offered to people (codes with a catalogue under "
            "`portal/translations/`, see [i18n.md](i18n.md)); the first match of `Accept-Language` is used"),
    Setting("DEFAULT_LANGUAGE", "en", "the language when nothing else decides; one of `LANGUAGES`"),
    _int("WORKER_PROCESSES", 1, 1, 1024, "how many gunicorn worker processes share this configuration; "
         "production refuses `memory://` under several", "`1`, set by `gunicorn.conf.py`"),
    Setting("LOG_LEVEL", "INFO", "the portal's log level"),
    Setting("METRICS_TOKEN", None, "bearer token for `GET /metrics` (portal.metrics; at least 16 characters); "
            "unset: no metrics endpoint"),
)

# --- accounts: passwords, login sessions, per-IP limits, retention ------------------------------
ACCOUNTS_SETTINGS = (
    Setting("PASSWORD_PEPPER", None, "key of the HMAC pre-hash of passwords (at least 16 characters); set it to "
            "rotate `SECRET_KEY` without invalidating every password", shown_default="derived from `SECRET_KEY`"),
    _int("BCRYPT_ROUNDS", 12, 4, 20, "bcrypt cost; hashes below it are upgraded at the next sign-in"),
    _int("SESSION_IDLE_TIMEOUT", 21600, 1, 366 * DAY, "seconds of inactivity after which a login session is "
         "dead, server-side", "`21600` (6 h)"),
    _int("SESSION_MAX_AGE", 86400, 1, 366 * DAY, "seconds after sign-in after which a session is dead "
         "whatever the activity"),
    Setting("LOGIN_RATE_LIMIT", "10 per minute;50 per hour", "`POST /login` attempts allowed per client IP "
            "(also password checks on the account pages)"),
    Setting("SIGNUP_RATE_LIMIT", "10 per hour", "`POST /signup` per client IP"),
    Setting("RESET_RATE_LIMIT", "5 per hour", "`POST /reset-password` and `POST /confirm/resend` per client IP"),
    _int("LOGIN_IP_RETENTION_DAYS", 90, 1, 3650, "how long sign-in records with IP addresses are kept"),
    _int("UNCONFIRMED_ACCOUNT_RETENTION_DAYS", 7, 1, 365, "accounts never confirmed are erased after this "
         "many days"),
)

# --- consent: third-party services behind consent, and the proof of it --------------------------
CONSENT_SETTINGS = (
    Setting("GA_MEASUREMENT_ID", None, "Google Analytics 4 (`G-…`); *analytics* category, loaded only after "
            "consent"),
    Setting("GTM_CONTAINER_ID", None, "Google Tag Manager (`GTM-…`); *analytics* category"),
    Setting("SMARTCHAT_KEY", None, "the SmartChat live-chat widget's key; *chat* category"),
    Setting("SMARTCHAT_SCRIPT_URL", None, "the SmartChat widget's script (https URL); *chat* category"),
    _int("CONSENT_MAX_AGE_DAYS", 182, 1, 395, "how long a consent or refusal is kept before asking again"),
    # A list of dicts with id, category, vendor, purpose, cookies, hosts and an optional script_url;
    # portal.consent.registry validates them at start-up.
    Setting("CONSENT_SERVICES", [], "further third-party services an operator declares without code "
            "changes, each behind consent (see `docs/security.md`)"),
    # Three years is the general limitation period of Czech civil law (§ 629 Civil Code) within which a
    # visitor or the ÚOOÚ may still question whether a cookie was set lawfully (GDPR Art. 7(1)).
    _int("CONSENT_PROOF_RETENTION_DAYS", 1095, 1, 3650, "how long a consent record (the proof, GDPR "
         "Art. 7(1)) is kept after its decision lapsed; three years is the Czech general limitation period"),
)

# --- newsletter -----------------------------------------------------------------------------------
NEWSLETTER_SETTINGS = (
    _int("NEWSLETTER_MONTHLY_LIMIT", 1, 0, 2, "newsletter issues per calendar month without an override; "
         "never more than 2"),
)

# --- privacy: inquiries, export --------------------------------------------------------------------
PRIVACY_SETTINGS = (
    # Proof that the request was handled (GDPR Art. 5(2)); `flask privacy purge` deletes them after.
    _int("INQUIRY_RETENTION_DAYS", 365, 1, 3650, "answered data-protection inquiries are deleted this many "
         "days after the answer"),
    # Flask-Limiter syntax; portal.privacy checks it at start-up.
    Setting("INQUIRY_RATE_LIMIT", "5 per hour;20 per day", "`POST /privacy/contact` per client IP"),
    _int("EXPORT_REAUTH_SECONDS", 300, 30, 3600, "how recent the password check must be for "
         "`GET /account/export`"),
)

# --- mfa: passkeys, authenticator app, recovery codes, re-authentication ---------------------------
MFA_SETTINGS = (
    _int("REAUTH_SECONDS", 300, 30, 3600, "how recent a password, code or passkey check must be for the "
         "sensitive account actions (passkeys, authenticator app, recovery codes, password, address)"),
    _int("MFA_PENDING_SECONDS", 300, 30, 3600, "how long the second sign-in step waits after a correct "
         "password"),
    _int("WEBAUTHN_CHALLENGE_SECONDS", 120, 10, 600, "how long a passkey challenge stays valid"),
    # Each entry is a former SECRET_KEY; portal.mfa.keyring derives the old encryption keys from them.
    Setting("MFA_OLD_SECRET_KEYS", [], "former `SECRET_KEY` values: authenticator secrets encrypted under "
            "them still decrypt, and are re-encrypted under the current key when next used "
            "(`docs/security.md`)"),
)

# --- mail: the SMTP relay, delivery, bounces, complaints, DKIM -------------------------------------
# Return-path, SES and DKIM values are checked at start-up by portal.mail.settings.
MAIL_SETTINGS = (
    Setting("MAIL_SERVER", None, "the SMTP relay; unset, every message is written to `instance/outbox/` "
            "and its links are logged"),
    _int("MAIL_PORT", 25, 1, 65535, "the relay's port"),
    _bool("MAIL_USE_TLS", "STARTTLS to the relay"),
    _bool("MAIL_USE_SSL", "TLS from the first byte (SMTPS)"),
    Setting("MAIL_USERNAME", None, "SMTP login"),
    Setting("MAIL_PASSWORD", None, "SMTP password"),
    _line("MAIL_DEFAULT_SENDER", "the From header", ),
    _int("MAIL_TIMEOUT", 30, 1, 600, "seconds before an SMTP connection attempt gives up"),
    # As MTAs do (Postfix: 5 days).
    _int("MAIL_RETRY_FOR", 3 * DAY, 60, 30 * DAY, "seconds a message keeps being retried after temporary "
         "(4xx) failures", "`259200` (3 days)"),
    _float("MAIL_RETRY_BASE", 60, 0.01, float(DAY), "seconds before the first retry, doubling each time up "
           "to `MAIL_RETRY_MAX_DELAY`"),
    _int("MAIL_RETRY_MAX_DELAY", 3600, 1, DAY, "the longest pause between two retries, in seconds"),
    # Counted in the rate-limit store.
    _float("MAIL_RATE", None, 0.01, 100000.0, "messages per second across every delivery worker and host"),
    _int("MAIL_WORKER_THREADS", 1, 0, 8, "delivery threads in each web process (0: only `flask mail deliver` "
         "delivers)"),
    _float("MAIL_POLL_INTERVAL", 1.0, 0.01, 60.0, "how often, in seconds, delivery threads look for due "
           "messages another process queued"),
    # Each message's local part carries a signed tag of its delivery (portal.mail.returnpath).
    _line("BOUNCE_ADDRESS", "envelope sender (Return-Path) of every message; a tag per delivery is added "
          "to its local part (`bounces+<tag>@domain`)"),
    Setting("SES_TOPIC_ARNS", [], "Amazon SNS topics (full ARNs) whose SES notifications `POST /hooks/ses` "
            "accepts"),
    Setting("SES_HOOK_RATE_LIMIT", "600 per minute", "`POST /hooks/ses` per client IP"),
    # Loopback hosts ("127.0.0.1:8443") and the CA of their TLS certificate, to serve SNS certificates
    # in tests.
    Setting("SNS_CERT_HOSTS_FOR_TESTS", [], "tests only, refused in production: extra hosts SNS "
            "certificates may come from"),
    Setting("SNS_CA_FILE_FOR_TESTS", None, "tests only, refused in production: the CA of those hosts' "
            "certificates"),
    _int("MAIL_SOFT_BOUNCE_LIMIT", 5, 1, 100, "temporary bounces of one address within "
         "`MAIL_SOFT_BOUNCE_DAYS` before it is suppressed"),
    _int("MAIL_SOFT_BOUNCE_DAYS", 30, 1, 365, "the window, in days, in which soft bounces are counted"),
    _int("MAIL_FEEDBACK_RETENTION_DAYS", 90, 1, 3650, "bounce, complaint and delivery reports are kept this "
         "many days (at least `MAIL_SOFT_BOUNCE_DAYS`)"),
    Setting("DKIM_DOMAIN", None, "DKIM signing domain (`d=`); signing needs all three DKIM settings"),
    Setting("DKIM_SELECTOR", None, "DKIM selector (`s=`)"),
    Setting("DKIM_PRIVATE_KEY_FILE", None, "path of the DKIM private key (PEM)"),
    # Without it such addresses are refused at the form, because no message could ever reach them.
    _bool("MAIL_SMTPUTF8", "the relay delivers internationalised local parts (`ü@example.org`) with "
          "SMTPUTF8"),
    _line("MAIL_HELO_NAME", "the name the portal gives in EHLO/HELO (the local host name when unset)"),
    # Kept without their bodies, for reconciliation.
    _int("MAIL_LOG_RETENTION_DAYS", 30, 1, 3650, "delivered and failed messages are kept this many days "
         "(without their bodies)"),
    _int("DPO_NOTIFICATION_MAX_DELAY", 3600, 60, 30 * DAY, "`flask privacy audit` fails when a DPO "
         "notification is still undelivered after this many seconds"),
)


@dataclass(frozen=True)
class Area:
    name: str
    title: str
    settings: tuple[Setting, ...]
    checks: tuple[Callable[[dict[str, Any], Path, bool], None], ...] = ()


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


# --- coercion by kind ------------------------------------------------------------------------------


def _as_int(key: str, value: Any, bounds: tuple[int, int]) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ConfigError(f"{ENV_PREFIX}{key}: must be a whole number, got {value!r}")
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f"{ENV_PREFIX}{key}: must be a whole number, got {value!r}") from None
    low, high = bounds
    if not low <= number <= high:
        raise ConfigError(f"{ENV_PREFIX}{key}: must be between {low} and {high}, got {number}")
    return number


def _as_float(key: str, value: Any, bounds: tuple[float, float]) -> float | None:
    if value is None:
        return None
    try:
        if isinstance(value, bool):
            raise ValueError
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{ENV_PREFIX}{key}: must be a number, got {value!r}") from None
    low, high = bounds
    if not low <= number <= high:  # also refuses NaN
        raise ConfigError(f"{ENV_PREFIX}{key}: must be between {low:g} and {high:g}, got {value!r}")
    return number


def _as_bool(key: str, value: Any, bounds: None = None) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in {"1", "true", "yes", "on", "0", "false", "no", "off", ""}:
        return value.lower() in {"1", "true", "yes", "on"}
    if value in (0, 1):
        return bool(value)
    raise ConfigError(f"{ENV_PREFIX}{key}: must be true or false, got {value!r}")


def _as_line(key: str, value: Any, bounds: None = None) -> Any:
    # It may go into a header (From, EHLO, Reply-To): a line break there would break or forge it.
    if value is not None and (not isinstance(value, str) or any(ord(ch) < 32 for ch in value)):
        raise ConfigError(f"{ENV_PREFIX}{key}: must be one line of text, got {value!r}")
    return value


# Coercion runs kind by kind in this order, each over every area's settings of that kind.
_COERCERS: tuple[tuple[str, Callable[[str, Any, Any], Any]], ...] = (
    ("int", _as_int),
    ("bool", _as_bool),
    ("float", _as_float),
    ("line", _as_line),
)


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


def is_rate_limit(value: object) -> bool:
    """Whether ``value`` is a Flask-Limiter rate such as "10 per minute;50 per hour"."""
    from limits import parse_many

    try:
        return isinstance(value, str) and bool(parse_many(value))
    except ValueError:
        return False


def _check_rate_limits(settings: Mapping[str, Any], keys: tuple[str, ...]) -> None:
    for key in keys:
        rate = settings.get(key)
        if not is_rate_limit(rate):
            raise ConfigError(f"{ENV_PREFIX}{key}: not a rate limit like '10 per minute', got {rate!r}")


# --- core checks -----------------------------------------------------------------------------------


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


def _check_secret_key(settings: dict[str, Any], instance_path: Path, production: bool) -> None:
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


def _check_base_url(settings: dict[str, Any], instance_path: Path, production: bool) -> None:
    base_url = str(settings.get("BASE_URL") or "")
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{ENV_PREFIX}BASE_URL: must be an absolute http(s) origin, got {base_url!r}")
    if production and parts.scheme != "https":
        raise ConfigError(f"{ENV_PREFIX}BASE_URL: production must use https, got {base_url!r}")
    settings["BASE_URL"] = base_url.rstrip("/")


def _check_rate_limit_storage(settings: dict[str, Any], instance_path: Path, production: bool) -> None:
    storage = str(settings.get("RATELIMIT_STORAGE_URI") or "")
    if "://" not in storage:
        raise ConfigError(f"{ENV_PREFIX}RATELIMIT_STORAGE_URI: not a storage URI: {storage!r}")
    if production and storage.startswith("memory://") and settings["WORKER_PROCESSES"] > 1:
        raise ConfigError(
            f"{ENV_PREFIX}RATELIMIT_STORAGE_URI: memory:// counts per process, but "
            f"{settings['WORKER_PROCESSES']} worker processes run; use redis://"
        )


def _check_trusted_proxies(settings: dict[str, Any], instance_path: Path, production: bool) -> None:
    settings["TRUSTED_PROXIES"] = _as_networks("TRUSTED_PROXIES", settings.get("TRUSTED_PROXIES"))


def _check_database_url(settings: dict[str, Any], instance_path: Path, production: bool) -> None:
    database_url = settings.get("DATABASE_URL") or f"sqlite:///{instance_path / 'portal.sqlite3'}"
    if not isinstance(database_url, str) or "://" not in database_url:
        raise ConfigError(f"{ENV_PREFIX}DATABASE_URL: not a database URL: {database_url!r}")
    if database_url.startswith(("postgres://", "postgresql://")):
        # psycopg 3 is the driver we ship; the bare scheme would pick psycopg2.
        database_url = "postgresql+psycopg://" + database_url.split("://", 1)[1]
    settings["DATABASE_URL"] = database_url


def _check_site_name(settings: dict[str, Any], instance_path: Path, production: bool) -> None:
    site_name = settings.get("SITE_NAME")
    if not isinstance(site_name, str) or not site_name.strip() or len(site_name) > 100 or any(
        ord(ch) < 32 or ord(ch) == 127 for ch in site_name
    ):
        # It goes into every email subject: a line break there would break (or forge) headers.
        raise ConfigError(f"{ENV_PREFIX}SITE_NAME: must be 1-100 printable characters on one line")


def _check_dpo_email(settings: dict[str, Any], instance_path: Path, production: bool) -> None:
    dpo = settings.get("DPO_EMAIL")
    if dpo:
        from email_validator import EmailNotValidError, validate_email

        try:
            validate_email(dpo, check_deliverability=False)
        except EmailNotValidError as error:
            raise ConfigError(f"{ENV_PREFIX}DPO_EMAIL: not an email address ({error})") from None


def _check_timezone(settings: dict[str, Any], instance_path: Path, production: bool) -> None:
    tz = settings.get("TIMEZONE")
    try:
        from zoneinfo import ZoneInfo

        ZoneInfo(str(tz))
    except Exception:
        raise ConfigError(f"{ENV_PREFIX}TIMEZONE: unknown time zone {tz!r}") from None


TRANSLATIONS = PACKAGE_ROOT / "portal" / "translations"


def _check_languages(settings: dict[str, Any], instance_path: Path, production: bool) -> None:
    languages = settings.get("LANGUAGES")
    if isinstance(languages, str):  # PORTAL_LANGUAGES=cs,en reads as one string
        languages = [part.strip() for part in languages.split(",") if part.strip()]
    if not isinstance(languages, list) or not languages or not all(isinstance(code, str) for code in languages):
        raise ConfigError(f"{ENV_PREFIX}LANGUAGES: must be a non-empty list of language codes")
    for code in languages:
        # English is the source language: its text is in the code, it needs no catalogue.
        if code != "en" and not (TRANSLATIONS / code / "LC_MESSAGES" / "messages.po").is_file():
            raise ConfigError(f"{ENV_PREFIX}LANGUAGES: no catalogue for {code!r} "
                              f"(portal/translations/{code}/LC_MESSAGES/messages.po)")
    settings["LANGUAGES"] = list(dict.fromkeys(languages))
    default = settings.get("DEFAULT_LANGUAGE")
    if default not in settings["LANGUAGES"]:
        raise ConfigError(f"{ENV_PREFIX}DEFAULT_LANGUAGE: must be one of LANGUAGES, got {default!r}")


# --- accounts checks -------------------------------------------------------------------------------


def _check_account_rate_limits(settings: dict[str, Any], instance_path: Path, production: bool) -> None:
    _check_rate_limits(settings, ("LOGIN_RATE_LIMIT", "SIGNUP_RATE_LIMIT", "RESET_RATE_LIMIT"))


def _check_pepper(settings: dict[str, Any], instance_path: Path, production: bool) -> None:
    pepper = settings.get("PASSWORD_PEPPER")
    if pepper is not None and (not isinstance(pepper, str) or len(pepper) < 16):
        raise ConfigError(f"{ENV_PREFIX}PASSWORD_PEPPER: must be a string of at least 16 characters")


def _check_old_secret_keys(settings: dict[str, Any], instance_path: Path, production: bool) -> None:
    value = settings.get("MFA_OLD_SECRET_KEYS")
    if isinstance(value, str):
        value = [part for part in value.split(",") if part.strip()]
    if not isinstance(value, (list, tuple)) or not all(isinstance(entry, str) and entry for entry in value):
        raise ConfigError(f"{ENV_PREFIX}MFA_OLD_SECRET_KEYS: must be a list of former secret keys")
    settings["MFA_OLD_SECRET_KEYS"] = list(value)


# The areas in the order their checks run. The consent services, the inquiry rate limit and the
# return-path/SES/DKIM values need the app and are checked by their areas' init_app.
AREAS: tuple[Area, ...] = (
    Area("core", "Core: environment, secrets, storage, proxies", CORE_SETTINGS, (
        _check_secret_key, _check_base_url, _check_rate_limit_storage, _check_trusted_proxies,
        _check_database_url, _check_site_name, _check_dpo_email, _check_timezone, _check_languages,
    )),
    Area("accounts", "Accounts: passwords, login sessions, limits", ACCOUNTS_SETTINGS, (
        _check_account_rate_limits, _check_pepper,
    )),
    Area("consent", "Cookie consent", CONSENT_SETTINGS),
    Area("newsletter", "Newsletter", NEWSLETTER_SETTINGS),
    Area("privacy", "Privacy: inquiries, export", PRIVACY_SETTINGS),
    Area("mail", "Mail: relay, delivery, bounces, DKIM", MAIL_SETTINGS),
    Area("mfa", "Passkeys and two-step sign-in", MFA_SETTINGS, (_check_old_secret_keys,)),
)

SETTINGS: tuple[Setting, ...] = tuple(s for area in AREAS for s in area.settings)
DEFAULTS: dict[str, Any] = {s.key: s.default for s in SETTINGS}
INT_SETTINGS = {s.key: s.bounds for s in SETTINGS if s.kind == "int"}
FLOAT_SETTINGS = {s.key: s.bounds for s in SETTINGS if s.kind == "float"}
BOOL_SETTINGS = tuple(s.key for s in SETTINGS if s.kind == "bool")


def _check_environment(settings: Mapping[str, Any]) -> bool:
    env = settings.get("ENV")
    if env not in ENVIRONMENTS:
        raise ConfigError(f"{ENV_PREFIX}ENV: must be one of {', '.join(ENVIRONMENTS)}, got {env!r}")
    return env == "production"


def _coerce(settings: dict[str, Any]) -> None:
    for kind, coerce in _COERCERS:
        for setting in SETTINGS:
            if setting.kind == kind:
                settings[setting.key] = coerce(setting.key, settings[setting.key], setting.bounds)


def validate(settings: dict[str, Any], instance_path: Path) -> dict[str, Any]:
    """Coerce every declared setting by its kind, then run each area's checks; one ConfigError
    naming the first bad setting."""
    production = _check_environment(settings)
    _coerce(settings)
    for area in AREAS:
        for check in area.checks:
            check(settings, instance_path, production)
    settings["PRODUCTION"] = production
    return settings


def flask_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Translate portal settings into the keys Flask and its extensions read."""
    from portal import cookies

    production = settings["PRODUCTION"]
    sender = settings.get("MAIL_DEFAULT_SENDER") or f"{settings['SITE_NAME']} <no-reply@{_host(settings)}>"
    return {
        "SQLALCHEMY_DATABASE_URI": settings["DATABASE_URL"],
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "SQLALCHEMY_TRACK_MODIFICATIONS": False,
        **cookies.flask_session_settings(production),
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
