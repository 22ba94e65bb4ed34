"""Talking to Chroma: the client (embedded on local disk by default, a server when a URL is
set), what a server that can't be used is said to be, and reading again after a read raced a
writer's deletes. What is stored and how is retrieval/index/store.py's.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

from retrieval.config import Settings
from retrieval.datadir import private_dir
from retrieval.errors import SettingsError

log = logging.getLogger(__name__)
T = TypeVar("T")


# Reading Chroma while a writer deletes can fail ("Error finding id"): try again after these.
RETRY_SECONDS = (0.05, 0.2, 0.5)


def read_retrying(read: Callable[[], T]) -> T:
    """`read()`, tried again after each pause of `RETRY_SECONDS` when it raises (a read of the
    store raced with a writer's deletes); the last failure is raised."""
    for pause in RETRY_SECONDS:
        try:
            return read()
        except Exception as exc:
            log.info("reading the store failed (%s); trying again", exc)
            time.sleep(pause)
    return read()


def make_client(settings: Settings) -> Any:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_url:
        url = urlparse(settings.chroma_url)
        try:
            return chromadb.HttpClient(
                host=url.hostname or "localhost",
                port=url.port or (443 if url.scheme == "https" else 8000),
                ssl=url.scheme == "https",
                settings=chroma_settings,
            )
        except Exception as exc:  # chromadb raises plain ValueError/ConnectError here
            raise no_server(settings.chroma_url, exc) from None
    path = private_dir(Path(settings.data_dir) / "chroma")
    return chromadb.PersistentClient(path=str(path), settings=chroma_settings)


def no_server(url: str, exc: BaseException) -> SettingsError:
    """One line that says what was tried and why the server at `url` can't be used (chromadb's
    own messages can be empty, repeated, or a whole HTML error page)."""
    reasons: list[str] = []
    for e in (exc, exc.__context__):
        if e is not None:
            text = " ".join(re.sub(r"<[^>]*>", " ", str(e)).split())[:160]
            if text and text not in reasons:
                reasons.append(text)
    if not reasons:  # e.g. an HTTP 500 with an empty body: chromadb says "Exception"
        reasons.append(_probe(url))
    return SettingsError(
        f"BRIEFBOT_CHROMA_URL: no usable Chroma server at {url} (tried Chroma's HTTP API there: "
        f"{': '.join(reasons)})"
    )


def _probe(url: str) -> str:
    """What a plain GET of the server's heartbeat answers, in words."""
    import urllib.error
    import urllib.request

    heartbeat = f"{url.rstrip('/')}/api/v2/heartbeat"
    try:
        with urllib.request.urlopen(heartbeat, timeout=5) as response:  # noqa: S310 (http(s))
            return f"GET {heartbeat} answered HTTP {response.status}, but the client failed"
    except urllib.error.HTTPError as exc:
        return f"GET {heartbeat} answered HTTP {exc.code} {exc.reason}".rstrip()
    except (OSError, ValueError) as exc:
        return f"GET {heartbeat} failed ({getattr(exc, 'reason', exc)})"
