"""Fetching what a feed links to, over HTTP(S), without trusting it.

Feed links are written by whoever runs the feed, so every URL fetched (the feed's, each item's
and each redirect's) is checked: http and https only, and only public addresses unless
BRIEFBOT_FETCH_ALLOW_HOSTS admits a host or a range (a team's internal feeds). Each fetch has
one deadline for the whole answer (see `fetch`). What an http(s) URL is, and the syntax of the
hosts allowed, is retrieval/urls.py's.
"""

from __future__ import annotations

import functools
import http.client
import io
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, quote, urljoin

from retrieval.urls import BadURL, Network, parse_allow_hosts, split_url

USER_AGENT = "briefbot/0.1 (+https://github.com/briefbot; feed reader)"
MAX_BYTES = 10 * 1024 * 1024  # a page or feed larger than this is not an article


# The host is
# resolved once, each address checked, and the connection made to a checked address with the
# original Host header and TLS server name, so DNS cannot answer differently between the check
# and the connection.
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]

REDIRECTS = frozenset({301, 302, 303, 307, 308})
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # an IPv4 address behind a NAT64 gateway


def address_refusal(ip: Address) -> str | None:
    """Why an address is not fetched ('loopback', 'private', ...), or None for a public one.

    An IPv6 address that carries an IPv4 one (::ffff:127.0.0.1, 6to4, NAT64) is judged by it too.
    """
    if isinstance(ip, ipaddress.IPv6Address):
        inner = ip.ipv4_mapped or ip.sixtofour
        if ip in _NAT64:
            inner = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if inner is not None and (why := address_refusal(inner)):
            return why
        if ip.ipv4_mapped or ip in _NAT64:
            return None  # the carried address is public; the wrapper's own flags say "reserved"
    for flag, why in (
        ("is_unspecified", "unspecified"),
        ("is_loopback", "loopback"),
        ("is_link_local", "link-local"),
        ("is_multicast", "multicast"),
        ("is_private", "private"),
        ("is_reserved", "reserved"),
    ):
        if getattr(ip, flag):
            return why
    return None if ip.is_global else "non-public"


def resolve_host(host: str, port: int) -> list[str]:
    """The host's addresses, as the system resolver gives them (an IP literal is itself)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class FetchPolicy:
    """What may be fetched: http(s) URLs of public addresses, or of the hosts and ranges
    allowed; at most `max_redirects` redirects and `max_bytes` of body."""

    allow_names: frozenset[str] = frozenset()
    allow_networks: tuple[Network, ...] = ()
    max_redirects: int = 5
    max_bytes: int = MAX_BYTES
    resolve: Resolver = resolve_host  # tests inject one to map names without DNS

    @classmethod
    def allowing(cls, allow_hosts: str, **options: Any) -> FetchPolicy:
        """A policy from BRIEFBOT_FETCH_ALLOW_HOSTS's syntax (see parse_allow_hosts)."""
        names, networks = parse_allow_hosts(allow_hosts)
        return cls(allow_names=names, allow_networks=networks, **options)

    def allows_address(self, ip: Address) -> bool:
        ips = [ip]
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
            ips.append(ip.ipv4_mapped)
        return any(a.version == n.version and a in n for a in ips for n in self.allow_networks)

    def addresses(self, url: str) -> tuple[SplitResult, list[str]]:
        """The URL, split, and the addresses it may be fetched from; a FetchError says why
        there are none (not http(s), malformed, unresolvable, or only refused addresses)."""
        try:
            parts = split_url(url)
        except BadURL as exc:
            raise FetchError(exc.reason) from None
        host = (parts.hostname or "").removesuffix(".")
        try:
            found = self.resolve(host, _port(parts))
        except (OSError, UnicodeError) as exc:
            raise FetchError(f"cannot resolve host {host} ({exc})") from None
        if not found:
            raise FetchError(f"cannot resolve host {host} (no address)")
        if host in self.allow_names:
            return parts, found
        allowed, refusals = [], []
        for a in found:
            ip = ipaddress.ip_address(a.split("%")[0])  # without an IPv6 zone ("%eth0")
            why = None if self.allows_address(ip) else address_refusal(ip)
            if why is None:
                allowed.append(a)
            else:
                where = a if a == host else f"{host} resolves to {a}, which"
                an = "an" if why[0] in "aeiou" else "a"  # "an unspecified address"
                refusals.append(f"refused: {where} is {an} {why} address")
        if not allowed:
            raise FetchError(f"{refusals[0]} (allow it with BRIEFBOT_FETCH_ALLOW_HOSTS)")
        return parts, allowed


def _port(parts: SplitResult) -> int:
    return parts.port or (443 if parts.scheme == "https" else 80)


class FetchError(Exception):
    """A URL could not be fetched; the message names it and says why (status, timeout,
    refused). `reason` is the why alone."""

    def __init__(self, reason: str, url: str = "") -> None:
        super().__init__(f"{url}: {reason}" if url else reason)
        self.reason = reason
        self.url = url


@dataclass(frozen=True)
class Response:
    status: int  # 2xx, or 304 (not modified)
    body: bytes
    url: str  # after redirects
    headers: dict[str, str]

    @property
    def charset(self) -> str | None:
        for part in self.headers.get("content-type", "").split(";")[1:]:
            key, _, value = part.strip().partition("=")
            if key.lower() == "charset" and value:
                return value.strip('"')
        return None


def fetch(
    url: str,
    timeout: float,
    headers: dict[str, str] | None = None,
    policy: FetchPolicy | None = None,
) -> Response:
    """GET url, following redirects; a 304 is a Response, anything else that is not a 2xx is
    a FetchError naming the URL.

    `timeout` is a deadline for the whole fetch (each connection, the headers, the body, every
    redirect), so a server that drips its answer a byte at a time is cut off too.
    """
    policy = policy or FetchPolicy()
    deadline = time.monotonic() + timeout
    current = url
    for _ in range(policy.max_redirects + 1):
        where = "" if current == url else f"redirected to {current}: "
        try:
            status, reason, got, body = _get(current, headers or {}, deadline, policy)
        except FetchError as exc:
            raise FetchError(where + exc.reason, url) from None
        except TimeoutError:
            raise FetchError(f"timed out: no complete answer within {timeout:g} s", url) from None
        if status in REDIRECTS and got.get("location"):
            current = urljoin(current, got["location"])
            continue
        if status == 304 or 200 <= status < 300:
            return Response(status, body, current, got)
        raise FetchError(f"{where}HTTP {status} {reason}".rstrip(), url)
    raise FetchError(f"more than {policy.max_redirects} redirects", url)


def _get(
    url: str, headers: dict[str, str], deadline: float, policy: FetchPolicy
) -> tuple[int, str, dict[str, str], bytes]:
    """One request: status, reason, headers (lower-case names) and the body of a 2xx."""
    parts, addresses = policy.addresses(url)
    path = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~") + (
        f"?{parts.query}" if parts.query else ""
    )
    kind = _TLSConnection if parts.scheme.lower() == "https" else _Connection
    # The port is always given: http.client would read "::1" as host "::" and port 1.
    conn = kind(parts.hostname or "", _port(parts), addresses, deadline)
    try:
        conn.request("GET", path, headers={"User-Agent": USER_AGENT, **headers})
        r = conn.getresponse()
        got = {k.lower(): v for k, v in r.getheaders()}
        if not 200 <= r.status < 300:
            return r.status, r.reason, got, b""
        chunks, size = [], 0
        while chunk := r.read(64 * 1024):
            size += len(chunk)
            if size > policy.max_bytes:
                raise FetchError(f"larger than {policy.max_bytes // (1024 * 1024)} MB")
            chunks.append(chunk)
        return r.status, r.reason, got, b"".join(chunks)
    except (TimeoutError, FetchError):
        raise
    except http.client.HTTPException as exc:
        raise FetchError(f"not a valid HTTP answer ({type(exc).__name__}: {exc})") from None
    except ssl.SSLError as exc:
        raise FetchError(f"TLS failed ({exc})") from None
    except OSError as exc:
        raise FetchError(f"connection failed ({exc})") from None
    except UnicodeError as exc:
        raise FetchError(f"not a valid URL ({exc})") from None
    finally:
        conn.release()


def _time_left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    return left


class _DeadlineSocket:
    """A socket whose every send and receive may take only the time left before the deadline
    (a socket timeout alone bounds each receive, not the answer)."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock, self.deadline = sock, deadline

    def sendall(self, data: bytes) -> None:
        self.sock.settimeout(_time_left(self.deadline))
        self.sock.sendall(data)

    def recv_into(self, buffer: Any, nbytes: int = 0) -> int:
        self.sock.settimeout(_time_left(self.deadline))
        return self.sock.recv_into(buffer, nbytes)

    def makefile(self, mode: str) -> io.BufferedReader:
        return io.BufferedReader(_DeadlineReader(self))

    def close(self) -> None:
        # http.client closes its connection as soon as an answer that ends with the connection
        # has begun, and reads the body afterwards; the socket is closed by _get when done.
        pass


class _DeadlineReader(io.RawIOBase):
    def __init__(self, sock: _DeadlineSocket) -> None:
        self.sock = sock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return self.sock.recv_into(buffer)


class _Connection(http.client.HTTPConnection):
    """Connects to the checked addresses only (never resolving the host again); the Host
    header still names the host."""

    def __init__(self, host: str, port: int, addresses: list[str], deadline: float) -> None:
        super().__init__(host, port)
        self.addresses, self.deadline = addresses, deadline
        self.raw: socket.socket | None = None

    def release(self) -> None:
        """Close the socket for good (close() leaves it to the answer being read)."""
        self.close()
        if self.raw is not None:
            self.raw.close()

    def _open(self) -> socket.socket:
        error: OSError | None = None
        for address in self.addresses:
            try:
                self.raw = socket.create_connection(
                    (address, self.port), timeout=_time_left(self.deadline)
                )
                return self.raw
            except TimeoutError:
                raise
            except OSError as exc:
                error = exc
        raise error or OSError("no address to connect to")

    def connect(self) -> None:
        self.sock = _DeadlineSocket(self._open(), self.deadline)


class _TLSConnection(_Connection):
    default_port = http.client.HTTPS_PORT

    def connect(self) -> None:
        sock = self._open()
        sock.settimeout(_time_left(self.deadline))  # the handshake, as a whole, in what is left
        self.raw = tls = _tls_context().wrap_socket(sock, server_hostname=self.host)
        self.sock = _DeadlineSocket(tls, self.deadline)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    return ssl.create_default_context()
