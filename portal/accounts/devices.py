"""Sessions as people recognise them: "Firefox on Windows", "last active 5 minutes ago"."""

from __future__ import annotations

from datetime import datetime
from functools import cache, lru_cache

from ua_parser import Parser, load_lazy_builtins

from portal.db import utcnow
from portal.translate import gettext as _
from portal.translate import lazy_gettext as _l
from portal.translate import ngettext

UNKNOWN_BROWSER = _l("Unknown browser")

# The same expressions and resolver stack as ua_parser's global parser, but each expression is
# compiled the first time a User-Agent reaches it: a browser's string matches after a few dozen,
# so the worker keeps ~0.6 MB fewer compiled patterns (and the first sessions page is 0.5 s faster).
# Built on the first User-Agent: the expressions' module alone is ~1.5 MB, which anonymous pages
# never need.
@cache
def _parser() -> Parser:
    return Parser.from_matchers(load_lazy_builtins())


@lru_cache(maxsize=1024)
def browser_and_system(user_agent: str | None) -> tuple[str, str]:
    """The browser family and the operating system of a User-Agent string ("" where unknown)."""
    if not user_agent:
        return "", ""
    agent = _parser().parse_user_agent(user_agent[:512])
    system = _parser().parse_os(user_agent[:512])
    browser = agent.family if agent and agent.family != "Other" else ""
    os_name = system.family if system and system.family != "Other" else ""
    return browser, os_name


def describe(user_agent: str | None) -> str:
    browser, system = browser_and_system(user_agent)
    if browser and system:
        return _("%(browser)s on %(system)s", browser=browser, system=system)
    return browser or system or str(UNKNOWN_BROWSER)


def ago(moment: datetime | None, now: datetime | None = None) -> str:
    """How long ago, in whole words (each one a full sentence fragment a translator can see)."""
    if moment is None:
        return ""
    seconds = max(0, int(((now or utcnow()) - moment).total_seconds()))
    if seconds < 60:
        return _("just now")
    minutes = seconds // 60
    if minutes < 60:
        return ngettext("%(num)d minute ago", "%(num)d minutes ago", minutes)
    hours = minutes // 60
    if hours < 48:
        return ngettext("%(num)d hour ago", "%(num)d hours ago", hours)
    days = hours // 24
    return ngettext("%(num)d day ago", "%(num)d days ago", days)
