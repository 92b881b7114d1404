"""The parts of long-connection mode: config checks, back-off, the database lease."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy.exc import OperationalError

from bot.app import App
from bot.clock import FakeClock
from bot.config import ConfigError
from bot.platforms.longconn.backoff import Backoff
from bot.platforms.longconn.connection import read_json
from bot.platforms.longconn.lease import Lease
from bot.platforms.wecom.longconn import WeComLongConnectionTransport
from storage import leases
from tests.conftest import make_settings


def test_long_connection_mode_needs_its_keys(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as wecom:
        make_settings(tmp_path, wecom={"mode": "long_connection"})
    assert "bot_id" in str(wecom.value)
    with pytest.raises(ConfigError) as ding:
        make_settings(tmp_path, dingtalk={"mode": "long_connection", "app_key": "k"})
    assert "app_secret" in str(ding.value)
    with pytest.raises(ConfigError):
        make_settings(tmp_path, wecom={"mode": "websocket"})


def test_callback_mode_is_the_default_and_starts_no_connection(app: App) -> None:
    assert app.settings.wecom.mode == "callback" and app.settings.dingtalk.mode == "callback"
    assert app.long_connections == []
    assert not isinstance(app.transports.get("wecom"), WeComLongConnectionTransport)


def test_backoff_doubles_with_jitter_up_to_the_cap_and_resets() -> None:
    backoff = Backoff(base=1, cap=60, rng=random.Random(7))
    delays = [backoff.next_delay() for _ in range(10)]
    for attempt, delay in enumerate(delays):
        ceiling = min(60, 2**attempt)
        assert ceiling / 2 <= delay <= ceiling
    assert len(set(delays[6:])) == 4  # capped, yet not in lockstep
    backoff.reset()
    assert backoff.next_delay() <= 1


async def test_one_holder_at_a_time_and_takeover_after_expiry(app: App, clock: FakeClock) -> None:
    ttl = timedelta(seconds=30)
    a = Lease(app.db, clock, "wecom:bot-1", "replica-a", ttl)
    b = Lease(app.db, clock, "wecom:bot-1", "replica-b", ttl)
    other_bot = Lease(app.db, clock, "wecom:bot-2", "replica-b", ttl)
    assert await a.acquire()
    assert not await b.acquire()
    assert await other_bot.acquire()  # leases are per bot
    clock.advance(timedelta(seconds=20))
    assert await a.acquire()  # renewed: good for another 30 s
    clock.advance(timedelta(seconds=20))
    assert not await b.acquire()
    clock.advance(timedelta(seconds=11))  # a stopped renewing 31 s ago
    assert await b.acquire()
    assert not await a.acquire() and not a.held


async def test_a_released_lease_is_free_at_once(app: App, clock: FakeClock) -> None:
    a = Lease(app.db, clock, "dingtalk:app", "replica-a")
    b = Lease(app.db, clock, "dingtalk:app", "replica-b")
    assert await a.acquire()
    await a.release()
    assert await b.acquire()
    await a.release()  # not held any more: nothing to give up, b keeps it
    assert await b.acquire()


async def test_a_database_hiccup_keeps_the_lease_only_until_it_would_expire(
    app: App, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = Lease(app.db, clock, "wecom:bot-1", "replica-a")
    assert await a.acquire()

    async def database_down(*_: object) -> bool:
        raise OperationalError("renew", {}, Exception("database is locked"))

    monkeypatch.setattr(leases, "acquire", database_down)
    clock.advance(timedelta(seconds=20))
    assert await a.acquire()  # still within the 30 s it was granted
    clock.advance(timedelta(seconds=11))
    assert not await a.acquire()  # another replica may hold it now


class _Frames:
    """Just enough of a client WebSocket for read_json: hands out the given frames."""

    def __init__(self, *frames: str) -> None:
        self.frames = [aiohttp.WSMessage(aiohttp.WSMsgType.TEXT, f, None) for f in frames]
        self.close_code = 1000

    async def receive(self, **_: float) -> aiohttp.WSMessage:
        return self.frames.pop(0)


async def test_hostile_frames_are_skipped_and_the_connection_reads_on() -> None:
    # A frame nested 100k deep raised RecursionError (not ValueError) out of read_json, and
    # a lone surrogate reached the dispatcher, whose database could not encode it.
    ws = _Frames("[" * 100_000, '{"text": "\\ud800"}', '{"k": "\\u0000"}', "[1]", "{", '{"ok": 1}')
    assert await read_json(ws, idle=1) == {"ok": 1}  # type: ignore[arg-type]
