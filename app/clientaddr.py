"""The client address the per-address limits (login, register) count under.

An IPv4 client is its address. An IPv6 client is its /64 network: one subscriber
is usually given a whole /64, so counting each address apart would give one
client 2^64 budgets. An IPv4-mapped IPv6 address (::ffff:a.b.c.d) counts as
the IPv4 address it maps.
"""

import ipaddress

from flask import request

IPV6_PREFIX = 64


def address_key(address: str | None) -> str:
    """The limit key of an address: IPv4 as it is, IPv6 as its /64 network; a value
    that is no address (a Unix socket's, say) as given."""
    if not address:
        return "unknown"
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, IPV6_PREFIX), strict=False))
    return str(ip)


def client_key() -> str:
    """Flask-Limiter's key function: the request's client (after ProxyFix, so the
    address nginx saw when PROXY_HOPS is set), keyed by address_key."""
    return address_key(request.remote_addr)
