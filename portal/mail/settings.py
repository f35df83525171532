"""Validation of the return-path, SES and DKIM settings, at start-up, with one clear line each.

A bad value here would otherwise surface much later and far away: a bounce address the MTA
cannot route, a topic ARN with a typo that makes every SES notification a 403, a DKIM key that
fails at the first message of a newsletter.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from flask import Flask

from portal.config import ENV_PREFIX, ConfigError, is_rate_limit

# The VERP tag adds at most ~30 characters; RFC 5321 allows 64 octets in a local part.
MAX_BOUNCE_LOCAL = 32
TOPIC_ARN = re.compile(r"^arn:aws(?:-cn|-us-gov)?:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$")
DKIM_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)(?:\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*$")


def _fail(key: str, problem: str) -> ConfigError:
    return ConfigError(f"{ENV_PREFIX}{key}: {problem}")


def check(app: Flask) -> None:
    config = app.config
    production = bool(config.get("PRODUCTION"))
    _check_bounce_address(config.get("BOUNCE_ADDRESS"))
    config["SES_TOPIC_ARNS"] = _topic_arns(config.get("SES_TOPIC_ARNS"))
    rate = config.get("SES_HOOK_RATE_LIMIT")
    if not is_rate_limit(rate):
        raise _fail("SES_HOOK_RATE_LIMIT", f"not a rate limit like '600 per minute', got {rate!r}")
    hosts = config.get("SNS_CERT_HOSTS_FOR_TESTS") or []
    if not isinstance(hosts, list) or not all(isinstance(h, str) and h for h in hosts):
        raise _fail("SNS_CERT_HOSTS_FOR_TESTS", "must be a list of host[:port] strings")
    if production and (hosts or config.get("SNS_CA_FILE_FOR_TESTS")):
        # Production trusts certificates from AWS hosts only: anything else is the SNS-forgery bug.
        raise _fail("SNS_CERT_HOSTS_FOR_TESTS", "test-only settings (SNS_CERT_HOSTS_FOR_TESTS, "
                    "SNS_CA_FILE_FOR_TESTS) are refused in production")
    if config["MAIL_FEEDBACK_RETENTION_DAYS"] < config["MAIL_SOFT_BOUNCE_DAYS"]:
        raise _fail("MAIL_FEEDBACK_RETENTION_DAYS", "must be at least MAIL_SOFT_BOUNCE_DAYS, or soft bounces "
                    "would be deleted before they are counted")
    _check_dkim(config)


def _check_bounce_address(value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, str) or value.count("@") != 1 or not value.isascii() or any(
        c in value for c in " <>()[],;:\\\"+"
    ):
        raise _fail("BOUNCE_ADDRESS", "must be a plain ASCII address like bounces@mail.example.org "
                    f"(no '+': the portal adds its own tag after one), got {value!r}")
    local, domain = value.split("@")
    if not local or not domain or "." not in domain:
        raise _fail("BOUNCE_ADDRESS", f"must be local@domain, got {value!r}")
    if len(local) > MAX_BOUNCE_LOCAL:
        raise _fail("BOUNCE_ADDRESS", f"the part before @ may have at most {MAX_BOUNCE_LOCAL} characters "
                    "(the per-message tag must still fit in 64)")


def _topic_arns(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail("SES_TOPIC_ARNS", f"must be a list of SNS topic ARNs, got {value!r}")
    for arn in value:
        if not TOPIC_ARN.match(arn):
            raise _fail("SES_TOPIC_ARNS", f"not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME): {arn!r}")
    return list(value)


def _check_dkim(config: Any) -> None:
    keys = ("DKIM_DOMAIN", "DKIM_SELECTOR", "DKIM_PRIVATE_KEY_FILE")
    given = [k for k in keys if config.get(k)]
    if not given:
        return
    if len(given) != len(keys):
        missing = ", ".join(k for k in keys if k not in given)
        raise _fail(given[0], "DKIM needs all of DKIM_DOMAIN, DKIM_SELECTOR and DKIM_PRIVATE_KEY_FILE; "
                    f"missing {missing}")
    for key in ("DKIM_DOMAIN", "DKIM_SELECTOR"):
        if not isinstance(config[key], str) or not DKIM_LABEL.match(config[key]):
            raise _fail(key, f"must be a DNS name, got {config[key]!r}")
    from portal.mail import dkim_signing

    try:
        dkim_signing.load_key(Path(str(config["DKIM_PRIVATE_KEY_FILE"])))
    except dkim_signing.KeyProblem as problem:
        raise _fail("DKIM_PRIVATE_KEY_FILE", str(problem)) from None
