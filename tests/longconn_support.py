"""Helpers for the long-connection tests: a compressed sleep, loopback servers, Apps."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from qingfeng.bot.app import App
from qingfeng.bot.clock import FakeClock
from qingfeng.handlers.roster import import_roster
from qingfeng.storage.migrate import upgrade
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


async def start_app(
    tmp_path: Path,
    clock: FakeClock,
    postgres_url: str | None,
    sleep: CompressedSleep,
    *,
    roster: Path | None,
    **overrides: Any,
) -> App:
    """An App in long-connection mode; `roster` given: a fresh database with that roster."""
    if postgres_url:
        overrides["database"] = {"url": postgres_url}
    app = App(make_settings(tmp_path, **overrides), clock=clock)
    if roster is not None:
        if postgres_url:
            await _empty_tables(app.db)
        else:
            await upgrade(app.db)
        await import_roster(app.db, roster, clock.now())
    await app.initialize()
    for conn in app.long_connections:
        conn.sleep = sleep
    await app.start()
    return app


async def close_app(app: App) -> None:
    await app.stop()
    await app.shutdown()
