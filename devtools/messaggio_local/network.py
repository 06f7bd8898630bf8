"""Where the local stack listens, and whom it answers.

By default every server binds to loopback. For `sam local` (`up --containers`) they bind to
all addresses, so a container on this host can reach them, and answer only local peers: this
host's loopback and the networks of its container bridges (Docker's docker0 and br-*,
Podman's, CNI's, read from the kernel's routing table), plus any `--allow-peer` range. A
machine on the LAN is refused before a request is read. Docker Desktop (macOS, Windows) relays
a container's connections to the host's loopback, so the same rule holds there.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import ipaddress
import re
import socket
import struct
from collections.abc import Callable, Iterable
from pathlib import Path

type Network = ipaddress.IPv4Network | ipaddress.IPv6Network
type PeerCheck = Callable[[str], bool]

LOOPBACK: tuple[Network, ...] = (
    ipaddress.ip_network("127.0.0.0/8"),
    ipaddress.ip_network("::1/128"),
)
BRIDGE = re.compile(r"^(docker\d*|br-[0-9a-f]+|podman\d*|cni\w*)$")
ROUTES = Path("/proc/net/route")
SIOCGIFADDR = 0x8915
# Docker Desktop's name for the host; Linux Docker has no such name without --add-host.
DESKTOP_HOST = "host.docker.internal"


class PortTaken(Exception):
    """A port the stack must listen on is in use (or not allowed): one line for the user."""

    def __init__(self, what: str, port: int, option: str, why: str = "in use") -> None:
        super().__init__(
            f"port {port} ({what}) is {why}: stop what uses it, or choose another with "
            f"{option} PORT"
        )


def listening(what: str, port: int, option: str, build: Callable[[], object]) -> object:
    """`build()` (which binds `port`), with a taken port said in one line."""
    try:
        return build()
    except OSError as exc:
        if exc.errno in (errno.EADDRINUSE, errno.EACCES):
            why = "in use" if exc.errno == errno.EADDRINUSE else "not allowed here"
            raise PortTaken(what, port, option, why) from None
        raise


def bridge_networks(routes: Path | None = None) -> list[Network]:
    """The directly connected networks of this host's container bridges (Linux)."""
    networks: list[Network] = []
    with contextlib.suppress(OSError):
        for line in (routes or ROUTES).read_text().splitlines()[1:]:
            fields = line.split()
            if len(fields) < 8 or not BRIDGE.match(fields[0]) or int(fields[2], 16) != 0:
                continue
            destination = socket.inet_ntoa(struct.pack("<L", int(fields[1], 16)))
            mask = socket.inet_ntoa(struct.pack("<L", int(fields[7], 16)))
            networks.append(ipaddress.ip_network(f"{destination}/{mask}", strict=False))
    return networks


def local_peers(extra: Iterable[str] = ()) -> PeerCheck:
    """Loopback, this host's container bridges, and `extra` ranges; nothing else."""
    networks = [*LOOPBACK, *bridge_networks(), *(ipaddress.ip_network(e) for e in extra)]

    def allowed(address: str) -> bool:
        try:
            peer = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(peer, ipaddress.IPv6Address) and peer.ipv4_mapped is not None:
            peer = peer.ipv4_mapped
        return any(peer in network for network in networks)

    return allowed


def container_host() -> str:
    """The address a container on this host reaches the host at: the docker0 bridge's own
    address on Linux (usually 172.17.0.1), Docker Desktop's name elsewhere."""
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        packed = fcntl.ioctl(s.fileno(), SIOCGIFADDR, struct.pack("256s", b"docker0"))
        return socket.inet_ntoa(packed[20:24])
    return DESKTOP_HOST
