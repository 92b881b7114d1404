"""Helpers for the long-connection tests: a compressed sleep, loopback servers, replicas."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.app import App
from bot.clock import FakeClock
from handlers.roster import import_roster
from storage.migrate import upgrade
from tests.conftest import _empty_tables, make_settings


class CompressedSleep:
    """Stands in for asyncio.sleep: records each delay asked for, waits 1/2000 of it."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.sleep(min(seconds, 60.0) / 2000)


async def serve(app: web.Application) -> TestServer:
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


class Replicas:
    """Starts Apps (replicas) in long-connection mode on one database; stops them all."""

    def __init__(
        self,
        tmp_path: Path,
        clock: FakeClock,
        roster: Path,
        postgres_url: str | None,
        sleep: CompressedSleep,
    ) -> None:
        self.tmp_path = tmp_path
        self.clock = clock
        self.roster = roster
        self.postgres_url = postgres_url
        self.sleep = sleep
        self.started: list[App] = []
        self._running = AsyncExitStack()  # each App's stop and shutdown, newest first

    async def start(self, **overrides: Any) -> App:
        """A new replica; the first one also prepares the database and imports the roster."""
        if self.postgres_url:
            overrides["database"] = {"url": self.postgres_url}
        app = App(make_settings(self.tmp_path, **overrides), clock=self.clock)
        if not self.started:
            if self.postgres_url:
                await _empty_tables(app.db)
            else:
                await upgrade(app.db)
            await import_roster(app.db, self.roster, self.clock.now())
        self.started.append(app)
        await self._running.enter_async_context(app)
        for conn in app.long_connections:
            conn.sleep = self.sleep
        await app.start()
        return app

    async def close_all(self) -> None:
        await self._running.aclose()
        self.started.clear()
