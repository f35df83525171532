"""The emails that tell a person their sign-in protection changed, queued in the change's transaction."""

from __future__ import annotations

from typing import Any

from flask import current_app

from portal import mail
from portal.links import external_url
from portal.translate import gettext as _

KINDS = {
    "mfa.passkey-added": "passkey added notice",
    "mfa.passkey-removed": "passkey removed notice",
    "mfa.authenticator-added": "authenticator app added notice",
    "mfa.authenticator-removed": "authenticator app removed notice",
    "mfa.recovery-used": "recovery code used notice",
    "mfa.recovery-regenerated": "recovery codes regenerated notice",
    "mfa.new-browser": "sign-in from a new browser notice",
}


def _site() -> str:
    return str(current_app.config["SITE_NAME"])


def _send(address: str, user_id: int, subject: str, template: str, kind: str, **context: Any) -> None:
    mail.enqueue(address, subject, template, kind=kind, user_id=user_id,
                 security_url=external_url("accounts.security"), reset_url=external_url("accounts.reset_request"),
                 **context)


def passkey_added(address: str, user_id: int, name: str) -> None:
    _send(address, user_id, _("A passkey was added to your %(site)s account", site=_site()),
          "mfa_factor_changed", "mfa.passkey-added", event="passkey-added", name=name)


def passkey_removed(address: str, user_id: int, name: str) -> None:
    _send(address, user_id, _("A passkey was removed from your %(site)s account", site=_site()),
          "mfa_factor_changed", "mfa.passkey-removed", event="passkey-removed", name=name)


def authenticator_added(address: str, user_id: int) -> None:
    _send(address, user_id, _("An authenticator app was set up for your %(site)s account", site=_site()),
          "mfa_factor_changed", "mfa.authenticator-added", event="authenticator-added", name="")


def authenticator_removed(address: str, user_id: int) -> None:
    _send(address, user_id, _("The authenticator app was removed from your %(site)s account", site=_site()),
          "mfa_factor_changed", "mfa.authenticator-removed", event="authenticator-removed", name="")


def recovery_code_used(address: str, user_id: int, left: int) -> None:
    _send(address, user_id, _("A recovery code was used for your %(site)s account", site=_site()),
          "mfa_recovery", "mfa.recovery-used", event="used", left=left)


def recovery_codes_regenerated(address: str, user_id: int) -> None:
    _send(address, user_id, _("New recovery codes were made for your %(site)s account", site=_site()),
          "mfa_recovery", "mfa.recovery-regenerated", event="regenerated", left=10)


def new_browser(address: str, user_id: int, browser: str, ip: str) -> None:
    _send(address, user_id, _("A new sign-in to your %(site)s account", site=_site()),
          "mfa_new_browser", "mfa.new-browser", browser=browser, ip=ip,
          sessions_url=external_url("accounts.list_sessions"))
