"""Failures to reach Discord or to log in, as one line naming the cause (never the token)."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator

import aiohttp
import discord

from retrieval import BriefbotError, SettingsError

log = logging.getLogger(__name__)

TOKEN_REJECTED = (
    "DISCORD_TOKEN was rejected by Discord: reset the bot's token in the developer portal"
    " and set the new one."
)
GATEWAY_AUTH_FAILED = 4004  # the gateway's close code for a token it does not accept


class DiscordUnavailable(BriefbotError):
    """Discord could not be reached, or failed to answer; the message says which and why."""


@contextlib.contextmanager
def discord_errors() -> Iterator[None]:
    """Failures to reach Discord or to log in, as one line naming the cause (never the token).

    Used around logging in and the first connection: once connected, discord.py reconnects
    by itself after a network failure.
    """
    try:
        yield
    except discord.LoginFailure:
        raise SettingsError(TOKEN_REJECTED) from None
    except discord.ConnectionClosed as exc:
        if exc.code == GATEWAY_AUTH_FAILED:
            raise SettingsError(TOKEN_REJECTED) from None
        raise DiscordUnavailable(
            f"Discord: the connection was closed (code {exc.code}): try again later."
        ) from None
    except aiohttp.ClientConnectorDNSError as exc:
        log.debug("DNS lookup failed", exc_info=True)
        raise DiscordUnavailable(
            f"Discord: cannot reach {exc.host} (DNS lookup failed) — check the network."
        ) from None
    except aiohttp.ClientConnectorError as exc:
        log.debug("could not connect", exc_info=True)
        errno = exc.os_error.errno
        reason = os.strerror(errno).lower() if errno else type(exc.os_error).__name__
        raise DiscordUnavailable(
            f"Discord: cannot reach {exc.host}:{exc.port} ({reason}) — check the network."
        ) from None
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.debug("the connection failed", exc_info=True)
        raise DiscordUnavailable(
            f"Discord: the connection failed ({type(exc).__name__}) — check the network."
        ) from None
    except discord.DiscordServerError as exc:
        raise DiscordUnavailable(
            f"Discord: its servers answered HTTP {exc.status}: try again later."
        ) from None
    except discord.HTTPException as exc:  # e.g. a server the bot is not in (403 Missing Access)
        raise DiscordUnavailable(
            f"Discord refused a request: HTTP {exc.status} {exc.text or ''}".rstrip() + "."
        ) from None
