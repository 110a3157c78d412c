"""Which Host headers the app answers, against DNS rebinding."""

from __future__ import annotations

import ipaddress
import socket

from kb.settings import Settings

LOOPBACK_NAMES = ("localhost",)
EVERY_ADDRESS = ("0.0.0.0", "::", "")


class HostNames:
    """Which Host headers the app answers, against DNS rebinding: a page on another site whose name
    is pointed at this machine sends its own name, and is refused. A page at an address (a Host that
    is an IP address) is not another site's, so addresses pass; when kb listens on loopback alone,
    only loopback addresses do."""

    def __init__(self, names: set[str], any_address: bool) -> None:
        self.names = {name.lower() for name in names}
        self.any_address = any_address

    @classmethod
    def for_settings(cls, settings: Settings) -> HostNames:
        names = {*LOOPBACK_NAMES, *settings.allowed_hosts}
        address = _address(settings.host)
        listening_beyond_loopback = settings.host not in LOOPBACK_NAMES and not (
            address and address.is_loopback
        )
        if listening_beyond_loopback:
            names.update({socket.gethostname(), socket.getfqdn()})
            if settings.host not in EVERY_ADDRESS:
                names.add(settings.host)
        return cls(names, any_address=listening_beyond_loopback)

    def allow(self, host: str) -> bool:
        """Whether a request's Host (name or address, with or without its port) is answered."""
        name = host_name(host)
        if name in self.names:
            return True
        address = _address(name)
        return address is not None and (self.any_address or address.is_loopback)


def host_name(host: str) -> str:
    """A Host header's name or address without its port: "[::1]:5000" -> "::1"."""
    host = host.lower()
    return host[1:].partition("]")[0] if host.startswith("[") else host.partition(":")[0]


def _address(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None
