"""Where the two portal hosts live: network namespaces of their own, or loopback addresses.

With root and iproute2 each host is a network namespace (``ip netns``) with one veth, whose other
end is a port of a bridge in the root namespace. The bridge has two addresses of a private /24
(``10.231.N.0/24``, the first N no interface on the machine uses): ``.1``, where PostgreSQL, Redis
and the SMTP sink listen for the hosts, and ``.10``, the one nginx connects from (``proxy_bind``,
the portals' only TRUSTED_PROXIES). The hosts are ``.2`` and ``.3``, both serving on port 8000 —
each namespace has its own ports — and reach nothing but that bridge: the root namespace's
loopback, where the machine's own PostgreSQL and Redis listen, is not theirs.

Without root, or when ``ip netns``/veth/bridge creation fails, the hosts are 127.0.0.2 and
127.0.0.3 in the root namespace, nginx connects from 127.0.0.10 and the services listen on
127.0.0.1: ``Network.reason`` says why, and the test that checks the namespaces skips with it (or
fails under PORTAL_TEST_REQUIRE_PRODUCTION=1 unless PORTAL_TEST_PRODUCTION_NETWORK=loopback asks
for this layout on purpose).

Every name made here starts with ``ptp<pid>`` (pid of the test process that made it), so a run
removes what a crashed run left behind: a namespace, bridge or veth whose pid is no longer alive.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import os
import re
import signal
import socket
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from shutil import which

from tests.production.units import pid_alive

PREFIX = "ptp"
SUBNETS = "10.231.{}.0/24"
LOCK = Path("/tmp/portal-production-network.lock")
CHOOSE = "PORTAL_TEST_PRODUCTION_NETWORK"  # "loopback" forces the fallback layout
HOST_PORT = 8000


@dataclass(frozen=True)
class Network:
    namespaced: bool
    reason: str  # why the loopback layout, when it is used
    service_address: str  # PostgreSQL, Redis and SMTP, as the hosts reach them
    proxy_address: str  # nginx's source address towards the hosts: TRUSTED_PROXIES
    host_addresses: tuple[str, ...]
    namespaces: tuple[str, ...] = ()  # one per host, when namespaced
    subnet: str = ""

    def wrap(self, index: int, argv: Sequence[str]) -> list[str]:
        """``argv`` as host ``index`` runs it: inside its namespace, or as it is."""
        if not self.namespaced:
            return list(argv)
        return ["ip", "netns", "exec", self.namespaces[index], *argv]

    def host_port(self, index: int) -> int:
        if self.namespaced:
            return HOST_PORT
        with socket.socket() as sock:
            sock.bind((self.host_addresses[index], 0))
            return int(sock.getsockname()[1])


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30, check=False)
    if check and result.returncode != 0:
        raise NetworkError(f"`ip {' '.join(args)}` failed: {result.stderr.strip() or result.returncode}")
    return result


class NetworkError(Exception):
    pass


def _owner(name: str) -> int | None:
    match = re.match(rf"{PREFIX}(\d+)", name)
    return int(match.group(1)) if match else None


def namespaces() -> list[str]:
    result = _ip("netns", "list", check=False)
    return [line.split()[0] for line in result.stdout.splitlines() if line.strip()]


def links() -> list[str]:
    result = _ip("-o", "link", "show", check=False)
    names = []
    for line in result.stdout.splitlines():
        parts = line.split(":", 2)
        if len(parts) >= 2:
            names.append(parts[1].strip().split("@", 1)[0])
    return names


def _remove_namespace(name: str) -> None:
    # Whatever still runs inside goes first: a namespace outlives `ip netns del` while it has processes.
    pids = _ip("netns", "pids", name, check=False).stdout.split()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)
    _ip("netns", "del", name, check=False)


def remove(owner: int) -> None:
    """Every namespace, bridge and veth that ``owner`` (a pid) made."""
    for name in namespaces():
        if _owner(name) == owner:
            _remove_namespace(name)
    for name in links():
        if _owner(name) == owner:
            _ip("link", "del", name, check=False)


def remove_leftovers() -> list[str]:
    """What crashed runs left: the names whose test process is gone. Returns them."""
    gone = []
    for name in [*namespaces(), *links()]:
        owner = _owner(name)
        if owner is not None and owner != os.getpid() and not pid_alive(owner):
            gone.append(name)
    for owner in {_owner(name) for name in gone}:
        assert owner is not None
        remove(owner)
    return gone


def _used_networks() -> list[ipaddress.IPv4Network]:
    result = _ip("-o", "-4", "addr", "show", check=False)
    return [ipaddress.ip_interface(m).network for m in re.findall(r"inet (\S+)", result.stdout)]


def _free_subnet() -> ipaddress.IPv4Network:
    used = _used_networks()
    start = os.getpid() % 250
    for step in range(250):
        candidate = ipaddress.ip_network(SUBNETS.format((start + step) % 250 + 1))
        if not any(candidate.overlaps(net) for net in used):
            return candidate
    raise NetworkError("no free /24 in 10.231.0.0/16")


def unavailable() -> str | None:
    """Why namespaces cannot be used here, before trying; None when they may be."""
    if os.environ.get(CHOOSE) == "loopback":
        return f"{CHOOSE}=loopback asks for the loopback layout"
    if os.geteuid() != 0:
        return f"network namespaces need root (the tests run as uid {os.geteuid()})"
    if not which("ip"):
        return "iproute2's `ip` is not installed"
    return None


def loopback(reason: str) -> Network:
    return Network(False, reason, "127.0.0.1", "127.0.0.10", ("127.0.0.2", "127.0.0.3"))


def _build(owner: int, hosts: int) -> Network:
    bridge = f"{PREFIX}{owner}b"
    LOCK.touch(exist_ok=True)
    with LOCK.open() as lock:
        # Two test processes (xdist, or another checkout) must not pick the same /24.
        fcntl.flock(lock, fcntl.LOCK_EX)
        subnet = _free_subnet()
        address = list(subnet.hosts())
        service, proxy = str(address[0]), str(address[9])
        _ip("link", "add", bridge, "type", "bridge")
        # .1 first: the primary address, the source of the root side's own connections (the
        # tests' direct requests); .10 only for nginx's proxy_bind.
        _ip("addr", "add", f"{service}/{subnet.prefixlen}", "dev", bridge)
        _ip("addr", "add", f"{proxy}/{subnet.prefixlen}", "dev", bridge)
    _ip("link", "set", bridge, "up")
    names, addresses = [], []
    for i in range(1, hosts + 1):
        namespace, outside, inside = f"{PREFIX}{owner}-host{i}", f"{PREFIX}{owner}h{i}", f"{PREFIX}{owner}h{i}n"
        host = str(address[i])
        _ip("netns", "add", namespace)
        names.append(namespace)
        _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
        _ip("link", "set", inside, "netns", namespace)
        _ip("link", "set", outside, "master", bridge)
        _ip("link", "set", outside, "up")
        _ip("-n", namespace, "addr", "add", f"{host}/{subnet.prefixlen}", "dev", inside)
        _ip("-n", namespace, "link", "set", inside, "up")
        _ip("-n", namespace, "link", "set", "lo", "up")
        addresses.append(host)
    return Network(True, "", service, proxy, tuple(addresses), tuple(names), str(subnet))


@contextlib.contextmanager
def host_network(hosts: int = 2) -> Iterator[Network]:
    """The hosts' network for one environment, removed afterwards whatever happens."""
    reason = unavailable()
    if reason:
        yield loopback(reason)
        return
    owner = os.getpid()
    remove_leftovers()
    remove(owner)  # an earlier environment of this very process that did not get to clean up
    try:
        try:
            network = _build(owner, hosts)
        except (NetworkError, OSError, subprocess.SubprocessError) as error:
            remove(owner)
            yield loopback(f"network namespaces could not be set up ({error})")
            return
        yield network
    finally:
        remove(owner)


def namespace_of(pid: int) -> str:
    """The network namespace a process is in (``net:[inode]``)."""
    return os.readlink(f"/proc/{pid}/ns/net")


def tcp_peers(pid: int, port: int) -> list[str]:
    """Remote addresses of the established TCP connections to ``port``, in ``pid``'s namespace."""
    peers = []
    for line in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, state = fields[1], fields[2], fields[3]
        if state == "01" and int(local.split(":")[1], 16) == port:  # 01: ESTABLISHED
            packed = bytes.fromhex(remote.split(":")[0])[::-1]  # little-endian on x86 and arm
            peers.append(str(ipaddress.IPv4Address(packed)))
    return peers
