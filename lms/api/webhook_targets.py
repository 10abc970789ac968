"""Where webhooks may go, and how they get there: public internet addresses only (SSRF).

An institution chooses its webhook URL, so without a check anyone with an admin account
could make Proctor POST to 127.0.0.1, the office network or the cloud's metadata service
(169.254.169.254). ``webhook_url_check`` is the one rule, applied when a URL is saved
(the admin form) and again before every delivery (lms/api/tasks.py), because a name's
DNS answer can change between the two (DNS rebinding). ``webhook_post`` then connects to
an address that was checked, never to the answer of a second lookup.

``PROCTOR_WEBHOOK_ALLOW_PRIVATE`` lifts the address and https rules for development and
for the test suite's local receiver; it is off by default.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter

from lms.api.errors import WebhookHostUnresolved, WebhookUrlRefused

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_PRIVATE_V4 = [  # RFC 1918
    ipaddress.IPv4Network("10.0.0.0/8"),
    ipaddress.IPv4Network("172.16.0.0/12"),
    ipaddress.IPv4Network("192.168.0.0/16"),
]
# Shared address space for carrier-grade NAT (RFC 6598): a provider's inside, not the
# internet. Python 3.11's is_private leaves it out, so it is named here.
_CARRIER_GRADE_NAT = ipaddress.IPv4Network("100.64.0.0/10")
_UNIQUE_LOCAL = ipaddress.IPv6Network("fc00::/7")  # RFC 4193, IPv6's private ranges
# NAT64 (RFC 6052): a gateway forwards 64:ff9b::a.b.c.d to the IPv4 address a.b.c.d,
# which may be a private one; Python 3.11 counts the whole prefix as global.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


@dataclass(frozen=True)
class WebhookTarget:
    """A webhook URL that passed the check, with every address its host resolved to."""

    url: str
    host: str  # the host name in ASCII (IDNA), or the IP literal without brackets
    port: int
    host_header: str  # what the receiver sees as Host: the URL's name (and port)
    addresses: tuple[IPAddress, ...]  # in the resolver's order; each one allowed


def _redacted(url: str) -> str:
    """``url`` without user and password: error messages are shown in the admin and logged."""
    return re.sub(r"//[^/?#]*@", "//***@", url, count=1)


def _non_public_reason(address: IPAddress) -> str | None:
    """Why Proctor must not connect to ``address``, or None for a public internet address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped
        if embedded is None:
            embedded = address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
        if embedded is not None:
            # The packets go to the embedded IPv4 address: judge that one.
            reason = _non_public_reason(embedded)
            return f"{reason} (IPv4 {embedded} inside IPv6)" if reason else None
    if address.is_unspecified:
        return "the unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return (
            "a link-local address (where cloud metadata services such as 169.254.169.254 "
            "live)"
        )
    if address.is_multicast:
        return "a multicast address"
    if address in _CARRIER_GRADE_NAT:
        return "a carrier-grade NAT address (100.64.0.0/10)"
    if any(address in network for network in _PRIVATE_V4):
        return "a private address (RFC 1918)"
    if address in _UNIQUE_LOCAL:
        return "a unique local address (fc00::/7)"
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return "a site-local address (fec0::/10)"
    if address.is_reserved:
        return "a reserved address"
    if not address.is_global:
        return "a special-purpose address that is not on the public internet"
    return None


def _resolve(*, host: str, port: int, shown_url: str) -> tuple[IPAddress, ...]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:  # socket.gaierror is an OSError
        raise WebhookHostUnresolved(
            f"The webhook URL {shown_url!r} cannot be used now: its host {host} does not "
            f"resolve ({exc}). Check the address, or try again if DNS is failing."
        ) from exc
    addresses: list[IPAddress] = []
    for family, _type, _proto, _name, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        address = ipaddress.ip_address(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise WebhookHostUnresolved(
            f"The webhook URL {shown_url!r} cannot be used now: its host {host} has no "
            "IPv4 or IPv6 address."
        )
    return tuple(addresses)


def webhook_url_check(*, url: str) -> WebhookTarget:
    """Check ``url`` as a webhook target and resolve its host, returning the addresses.

    Allowed: ``https://`` without user or password, to a host that is a public IP address
    or a name all of whose addresses are public. A name with one private address among
    public ones is refused too: any of them may be the one connected to. With
    ``PROCTOR_WEBHOOK_ALLOW_PRIVATE`` on, ``http://`` and non-public addresses pass.

    Raises WebhookUrlRefused naming the URL and the rule it breaks, and
    WebhookHostUnresolved when the host name does not resolve (which may be temporary).
    """
    allow_private: bool = settings.PROCTOR_WEBHOOK_ALLOW_PRIVATE
    shown_url = _redacted(url)

    def refused(why: str) -> WebhookUrlRefused:
        return WebhookUrlRefused(f"The webhook URL {shown_url!r} is refused: {why}")

    try:
        parts = urlsplit(url)
        explicit_port = parts.port
    except ValueError as exc:
        raise refused(f"it is not a valid URL ({exc}).") from exc
    scheme = parts.scheme.lower()
    if scheme != "https" and not (allow_private and scheme == "http"):
        raise refused(
            "use an https:// address. The body names sessions and outcomes, so it must not "
            "travel in clear text (plain http:// is accepted only with "
            "PROCTOR_WEBHOOK_ALLOW_PRIVATE, for development)."
        )
    if "@" in parts.netloc:
        raise refused(
            "it contains a user name or password (user:password@); remove it. Proctor "
            "signs every delivery instead (Proctor-Signature, docs/api.md)."
        )
    host = parts.hostname
    if not host:
        raise refused("it has no host name.")
    port = explicit_port or (443 if scheme == "https" else 80)
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses: tuple[IPAddress, ...] = (literal,)
        host_header = f"[{host}]" if literal.version == 6 else host
    else:
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise refused(f"its host name is not valid ({exc}).") from exc
        host_header = host
        addresses = _resolve(host=host, port=port, shown_url=shown_url)
    if explicit_port is not None:
        host_header = f"{host_header}:{explicit_port}"
    if not allow_private:
        for address in addresses:
            reason = _non_public_reason(address)
            if reason is None:
                continue
            where = f"{address} is" if literal is not None else f"{host} resolves to {address},"
            raise refused(
                f"{where} {reason}. Webhooks go only to public internet addresses."
            )
    return WebhookTarget(
        url=url, host=host, port=port, host_header=host_header, addresses=addresses
    )


class _PinnedAddressAdapter(HTTPAdapter):
    """Connects to the IP address in the request's URL, while TLS sends the original host
    name (SNI) and checks the certificate against it.

    Overrides the hook requests documents for changing a pool's TLS parameters.
    """

    def __init__(self, *, server_hostname: str) -> None:
        self._server_hostname = server_hostname
        super().__init__(max_retries=0)

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: Any, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(
            request, verify, cert
        )
        if host_params["scheme"] == "https":
            pool_kwargs["server_hostname"] = self._server_hostname
        return host_params, pool_kwargs


def webhook_post(
    *, target: WebhookTarget, body: bytes, headers: Mapping[str, str], timeout_s: float
) -> int:
    """POST ``body`` to the first checked address of ``target``; return the HTTP status.

    Redirects are not followed (a 3xx is just the answer), and the response body is not
    read. Raises requests.RequestException on a connection error or timeout.
    """
    address = target.addresses[0]
    parts = urlsplit(target.url)
    netloc = f"[{address}]:{target.port}" if address.version == 6 else f"{address}:{target.port}"
    pinned_url = urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", parts.query, ""))
    adapter = _PinnedAddressAdapter(server_hostname=target.host)
    with requests.Session() as http:
        # Nothing from the environment: a proxy would look the name up again itself, and
        # a .netrc could add credentials.
        http.trust_env = False
        http.mount("https://", adapter)
        http.mount("http://", adapter)
        with http.post(
            pinned_url,
            data=body,
            headers={**headers, "Host": target.host_header},
            timeout=timeout_s,
            allow_redirects=False,
            stream=True,  # a receiver cannot make us download a large answer
        ) as response:
            return response.status_code
