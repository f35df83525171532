"""X-Forwarded-* is believed only from the proxies we run, never from whoever connects.

``ProxyFix(x_for=TRUSTED_PROXY_COUNT)`` alone trusts the last N hops of every request: a client
that reaches gunicorn directly (another host on the network, a port left open) writes its own
X-Forwarded-For and picks its IP, and with it a fresh rate-limit budget. Like gunicorn's
``forwarded_allow_ips``, the headers count only when the socket peer is in TRUSTED_PROXIES.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from werkzeug.middleware.proxy_fix import ProxyFix

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(entries: Iterable[str]) -> list[Network]:
    """Addresses and CIDR networks; raises ValueError naming the first entry that is neither."""
    networks: list[Network] = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(str(entry).strip(), strict=False))
        except ValueError:
            raise ValueError(f"not an IP address or network: {entry!r}") from None
    return networks


def peer_is_trusted(peer: str | None, networks: Iterable[Network]) -> bool:
    if not peer:
        return False
    try:
        address = ipaddress.ip_address(peer)  # a zone id ("fe80::1%eth0") is part of the syntax
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 on a dual-stack socket
    return any(address.version == network.version and address in network for network in networks)


class TrustedProxyFix:
    """WSGI middleware: ProxyFix for requests from a trusted peer, the socket address otherwise."""

    def __init__(self, app: Any, networks: Iterable[Network], count: int) -> None:
        self.app = app
        self.networks = list(networks)
        self.fixed = ProxyFix(app, x_for=count, x_proto=count, x_host=count)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if peer_is_trusted(environ.get("REMOTE_ADDR"), self.networks):
            return self.fixed(environ, start_response)
        return self.app(environ, start_response)
