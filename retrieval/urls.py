"""Addresses as users and feeds write them: the one check of what an http(s) URL is (for the
settings, the configuration file, feeds and the renderers), the hosts and ranges a fetch may
be allowed (BRIEFBOT_FETCH_ALLOW_HOSTS), and a site's host as an article's source.

Fetching itself, and which addresses may be fetched, is retrieval/intake/fetch.py's.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import SplitResult, urlparse, urlsplit

from retrieval.errors import SettingsError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_HOST_NAME = re.compile(r"[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*")


class BadURL(ValueError):
    """Not an http(s) URL with a host and a valid port; `reason` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def split_url(url: str) -> SplitResult:
    """The URL's parts; a BadURL if it is not an http(s) URL with a host and a valid port."""
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018  (raises ValueError for a port out of range)
    except ValueError as exc:
        raise BadURL(f"not a valid URL ({exc})") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise BadURL("not an http or https URL")
    if not parts.hostname:
        raise BadURL("not a valid URL (no host)")
    return parts


def is_http_url(url: str) -> bool:
    """Whether `url` is an http(s) URL with a host (and a valid port, if any)."""
    try:
        split_url(url)
    except BadURL:
        return False
    return True


def check_feed_url(url: str, where: str) -> str:
    """A feed URL as given, or a SettingsError naming it and `where` it came from."""
    try:
        split_url(url)
    except BadURL as exc:
        raise SettingsError(f"{where}: {url!r} is {exc.reason}") from None
    return url


def parse_allow_hosts(value: str) -> tuple[frozenset[str], tuple[Network, ...]]:
    """Comma-separated host names, IP addresses and CIDR ranges: (names, networks).

    Raises ValueError naming an entry that is none of these."""
    names: set[str] = set()
    networks: list[Network] = []
    for raw in value.split(","):
        entry = raw.strip().lower().removesuffix(".")
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            continue
        except ValueError:
            pass
        if "/" in entry or not _HOST_NAME.fullmatch(entry):
            raise ValueError(f"{raw.strip()!r} is not a host name, IP address or CIDR range")
        names.add(entry)
    return frozenset(names), tuple(networks)


def host_of(url: str) -> str:
    """A display source for an article that names none: its site's host ("cnn.com")."""
    host = urlparse(url).hostname or ""
    return host.removeprefix("www.")
