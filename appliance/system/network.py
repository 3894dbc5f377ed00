"""The box's own network address, in words a teacher can write down.

A very long hold of the button speaks the address of the config page, so a
teacher can find it without a screen. It never says the PIN.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import socket
import struct

from appliance.core.config import Config
from appliance.lessons.language import BoxLines, box_lines

SIOCGIFADDR = 0x8915
# Interfaces that are not how a teacher's laptop reaches the box.
VIRTUAL_PREFIXES = ("lo", "docker", "veth", "br-", "virbr", "tun", "tap")


def local_ipv4_addresses() -> list[str]:
    """The box's IPv4 addresses on real interfaces, wired before wireless.

    Read from the kernel (no packets are sent, no name service is asked).
    """
    found: list[tuple[str, str]] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        for _, name in socket.if_nameindex():
            if name.startswith(VIRTUAL_PREFIXES):
                continue
            request = struct.pack("256s", name.encode()[:15])
            with contextlib.suppress(OSError):  # an interface with no IPv4 address
                reply = fcntl.ioctl(probe.fileno(), SIOCGIFADDR, request)
                address = socket.inet_ntoa(reply[20:24])
                if not ipaddress.ip_address(address).is_loopback:
                    found.append((name, address))
    found.sort(key=lambda item: (not item[0].startswith(("eth", "en")), item[0]))
    return [address for _, address in found]


def spoken_address(addresses: list[str], port: int, lines: BoxLines | None = None) -> str:
    """``"My web page is at 192 dot 168 dot 1 dot 20, port 8080."``, said twice, in the
    words of ``lines`` (English by default)."""
    lines = lines or box_lines("en")
    if not addresses:
        return lines.no_network
    places = f" {lines.or_at} ".join(
        address.replace(".", f" {lines.dot} ") for address in addresses[:2]
    )
    line = lines.page_at.format(places=places, port=port)
    return f"{line} {lines.again} {line}"


def address_announcement(config: Config) -> str:
    """What the box says when asked for its address, from its current config."""
    lines = box_lines(config.language)
    if not config.web.enabled:
        return lines.page_off
    bound = [address for address in config.web.bind if address not in ("0.0.0.0", "::")]
    return spoken_address(bound or local_ipv4_addresses(), config.web.port, lines)
