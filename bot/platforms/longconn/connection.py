"""What both long connections share: hold the lease, stay connected, report the state."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any

import aiohttp

from bot.platforms.longconn.backoff import Backoff, Sleep, real_sleep
from bot.platforms.longconn.lease import Lease
from bot.platforms.payload import json_object

log = logging.getLogger(__name__)

# States shown in /healthz.
STOPPED = "stopped"
STANDBY = "standby"  # another replica holds the lease
CONNECTING = "connecting"
CONNECTED = "connected"
RECONNECTING = "reconnecting"
UP = (CONNECTED, STANDBY)  # as it should be: connected here, or held by another replica


class ConnectionLost(Exception):
    """The socket closed, timed out, or the platform refused us; worth another try.

    The message is for the operator (the log and /healthz): Chinese, never a secret or
    a ticket."""


class CredentialsRefused(ConnectionLost):
    """The platform refused the bot's id or secret: retrying will not help until the
    operator fixes the configuration (we still retry, in case the platform erred)."""


class LongConnection:
    """Runs `session()` again and again while this replica holds the lease.

    A subclass implements `session()`: one connection from dial to close, calling
    `connected()` once the platform has accepted it.
    """

    platform = ""
    title = ""  # the platform's name in operator messages

    def __init__(self, lease: Lease, sleep: Sleep = real_sleep, backoff: Backoff | None = None):
        self.lease = lease
        self.clock = lease.clock  # the app's clock: tests move it across /healthz's grace
        self.sleep = sleep  # injectable: tests compress time instead of waiting
        self.backoff = backoff or Backoff()
        self.state = STOPPED
        self.problem = ""  # why the last attempt failed; cleared once connected
        self._logged = ""  # the failure last logged: the same cause is logged once
        self._down_since: datetime | None = None
        self._task: asyncio.Task[None] | None = None

    async def session(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        if self._task is None:
            self._down_since = self.clock.now()
            self._task = asyncio.create_task(self._run(), name=f"longconn-{self.platform}")

    def trouble(self, grace: timedelta) -> str:
        """Why this connection counts as broken, or "" while it is up or has been down for
        no longer than `grace` (a reconnect or a lease handover takes a few seconds)."""
        if self._down_since is None or self.clock.now() - self._down_since <= grace:
            return ""
        return self.problem or f"{self.title}长连接未建立（{self.state}）"

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
        self.problem = self._logged = ""
        self._set_state(CONNECTED)

    def _set_state(self, state: str) -> None:
        if state != self.state:
            # A retry loop flips between these two every attempt: not worth a line each.
            retrying = {state, self.state} == {CONNECTING, RECONNECTING}
            level = logging.DEBUG if retrying else logging.INFO
            log.log(level, "%s long connection: %s -> %s", self.platform, self.state, state)
            self.state = state
        if state in UP:
            self._down_since = None
        elif self._down_since is None:
            self._down_since = self.clock.now()

    def _failed(self, exc: ConnectionLost) -> None:
        """Remember why for /healthz; log each distinct cause once, not every retry."""
        reason = str(exc)
        if self.title not in reason:  # a generic one, such as a socket gone quiet
            reason = f"{self.title}长连接中断：{reason}"
        self.problem = reason
        if reason == self._logged:
            log.debug("%s long connection failed again: %s", self.platform, reason)
            return
        self._logged = reason
        level = logging.ERROR if isinstance(exc, CredentialsRefused) else logging.WARNING
        log.log(level, "%s；自动重试中，同一原因只记录一次", reason)

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
            log.warning("%s 长连接：租约已被另一副本取得，本连接关闭", self.platform)

    async def _renewed(self) -> bool:
        await self.sleep(self.lease.renew_every)
        return await self.lease.acquire()

    async def _stay_connected(self) -> None:
        while True:
            self._set_state(CONNECTING)
            try:
                await self.session()
                log.info("%s 长连接被平台关闭，将重连", self.platform)
            except asyncio.CancelledError:
                raise
            except ConnectionLost as exc:
                self._failed(exc)
            except Exception as exc:  # any failure of one connection: log it, dial again
                self._failed(ConnectionLost(f"{self.title}长连接出错：{describe(exc)}"))
            self._set_state(RECONNECTING)
            delay = self.backoff.next_delay()
            log.debug("%s long connection: next attempt in %.1f s", self.platform, delay)
            await self.sleep(delay)


def describe(exc: BaseException) -> str:
    """An error for the log: its kind and message (ours never carry secrets or tickets)."""
    if isinstance(exc, ConnectionLost):
        return str(exc)
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"HTTP {exc.status}"  # its str() would show the URL, with a ticket
    return type(exc).__name__


def unreachable(what: str, exc: Exception) -> ConnectionLost:
    """A failure to reach `what` (a gateway, a socket address), worded for the operator."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        # Host and port only: the address may carry a ticket in its query.
        error = exc.os_error
        cause = error.strerror or str(error) or type(error).__name__
        return ConnectionLost(f"无法连接{what}：{exc.host}:{exc.port}（{cause}）")
    if isinstance(exc, aiohttp.WSServerHandshakeError):
        return ConnectionLost(f"{what}拒绝了 WebSocket 握手（HTTP {exc.status}）")
    if isinstance(exc, TimeoutError):
        return ConnectionLost(f"无法连接{what}：超时")
    return ConnectionLost(f"无法连接{what}：{describe(exc)}")


async def read_json(ws: aiohttp.ClientWebSocketResponse, idle: float) -> dict[str, Any]:
    """The next JSON object from the socket; ConnectionLost when it closes or goes silent."""
    while True:
        try:
            msg = await ws.receive(timeout=idle)
        except TimeoutError:
            raise ConnectionLost(f"{idle:.0f} 秒没有收到任何数据") from None
        if msg.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
            try:
                return json_object(msg.data)
            except ValueError as exc:  # not JSON, too deep, not an object, unstorable text
                log.warning("long connection: a frame skipped: %s", exc)
                continue
        if msg.type in (aiohttp.WSMsgType.PING, aiohttp.WSMsgType.PONG):
            continue
        raise ConnectionLost(f"连接被关闭（code {ws.close_code}）")
