"""What every platform is to the App: routes in, a transport out, and a lifecycle.

A platform is built from the settings and the pieces it needs, passed in by the
composition root (bot/app.py); it never imports the App.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import aiohttp
from aiohttp import web

from bot.platforms.longconn.connection import LongConnection
from bot.platforms.longconn.lease import Lease
from bot.sending import Transport

# The App's shared HTTP client; None before initialize and after shutdown.
HttpGetter = Callable[[], aiohttp.ClientSession | None]
# A lease on one connection name (e.g. "wecom:<bot_id>"), held for this replica.
LeaseFactory = Callable[[str], Lease]


class Platform(Protocol):
    """One chat platform, in whichever modes the config enables.

    Lifecycle, driven by the App: start() once serving; at shutdown drain() (replies
    still being worked on go out) for every platform before stop() for any, since a
    late reply may need a long connection.
    """

    name: str  # the platform's name in the config, the outbox and account bindings

    @property
    def transport(self) -> Transport | None:
        """Pushes go out through it; None when the config gives no way to push."""
        ...

    @property
    def connection(self) -> LongConnection | None:
        """Dialled out in long-connection mode; its state and trouble show in /healthz."""
        ...

    def add_routes(self, router: web.UrlDispatcher) -> None:
        """Add its HTTP callback routes, those the config enables (maybe none)."""
        ...

    async def start(self) -> None: ...

    async def drain(self) -> None: ...

    async def stop(self) -> None: ...
