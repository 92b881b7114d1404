"""What both long connections share: hold the lease, stay connected, report the state."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp

from qingfeng.bot.platforms.longconn.backoff import Backoff, Sleep, real_sleep
from qingfeng.bot.platforms.longconn.lease import Lease
from qingfeng.bot.platforms.payload import json_object

log = logging.getLogger(__name__)

# States shown in /healthz.
STOPPED = "stopped"
STANDBY = "standby"  # another replica holds the lease
CONNECTING = "connecting"
CONNECTED = "connected"
RECONNECTING = "reconnecting"


class ConnectionLost(Exception):
    """The socket closed, timed out, or the platform refused us; worth another try."""


class LongConnection:
    """Runs `session()` again and again while this replica holds the lease.

    A subclass implements `session()`: one connection from dial to close, calling
    `connected()` once the platform has accepted it.
    """

    platform = ""

    def __init__(self, lease: Lease, sleep: Sleep = real_sleep, backoff: Backoff | None = None):
        self.lease = lease
        self.sleep = sleep  # injectable: tests compress time instead of waiting
        self.backoff = backoff or Backoff()
        self.state = STOPPED
        self._task: asyncio.Task[None] | None = None

    async def session(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"longconn-{self.platform}")

    async def stop(self) -> None:
        """Close the socket, stop reconnecting, and give the lease up for another replica."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await self.lease.release()
        self._set_state(STOPPED)

    def connected(self) -> None:
        self.backoff.reset()
        self._set_state(CONNECTED)

    def _set_state(self, state: str) -> None:
        if state != self.state:
            log.info("%s long connection: %s -> %s", self.platform, self.state, state)
            self.state = state

    async def _run(self) -> None:
        while True:
            if not await self.lease.acquire():
                self._set_state(STANDBY)
                await self.sleep(self.lease.renew_every)
                continue
            link = asyncio.create_task(self._stay_connected())
            try:
                while await self._renewed():
                    if link.done():  # never expected: _stay_connected loops forever
                        break
            finally:
                link.cancel()
                await asyncio.gather(link, return_exceptions=True)
            log.warning("%s long connection: lease lost, connection closed", self.platform)

    async def _renewed(self) -> bool:
        await self.sleep(self.lease.renew_every)
        return await self.lease.acquire()

    async def _stay_connected(self) -> None:
        while True:
            self._set_state(CONNECTING)
            try:
                await self.session()
                log.info("%s long connection closed by the platform", self.platform)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure of one connection: log it, dial again
                log.warning("%s long connection failed: %s", self.platform, describe(exc))
            self._set_state(RECONNECTING)
            delay = self.backoff.next_delay()
            log.info("%s long connection: next attempt in %.1f s", self.platform, delay)
            await self.sleep(delay)


def describe(exc: BaseException) -> str:
    """An error for the log: its kind and message (ours never carry secrets or tickets)."""
    if isinstance(exc, ConnectionLost):
        return str(exc)
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"HTTP {exc.status}"
    return type(exc).__name__


async def read_json(ws: aiohttp.ClientWebSocketResponse, idle: float) -> dict[str, Any]:
    """The next JSON object from the socket; ConnectionLost when it closes or goes silent."""
    while True:
        try:
            msg = await ws.receive(timeout=idle)
        except TimeoutError:
            raise ConnectionLost(f"nothing received for {idle:.0f} s") from None
        if msg.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
            try:
                return json_object(msg.data)
            except ValueError as exc:  # not JSON, too deep, not an object, unstorable text
                log.warning("long connection: a frame skipped: %s", exc)
                continue
        if msg.type in (aiohttp.WSMsgType.PING, aiohttp.WSMsgType.PONG):
            continue
        raise ConnectionLost(f"socket closed (code {ws.close_code})")
