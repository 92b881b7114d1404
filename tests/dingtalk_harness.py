"""The bot with DingTalk switched on, served on loopback, talking to a fake DingTalk."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from sqlmodel import select

from bot.app import App
from bot.clock import FakeClock
from bot.platforms.dingtalk import DingTalkPlatform
from bot.platforms.dingtalk.transport import DingTalkTransport
from storage.models import CheckIn, Group, InboundMessage
from tests.conftest import BUREAU, SCHOOL, make_settings, started_app
from tests.fakes.dingtalk import (
    FakeDingTalk,
    callback_headers,
    callback_payload,
)

REPLY_WAIT = 5.0


class DingTalkHarness:
    def __init__(self, app: App, fake: FakeDingTalk, client: TestClient, clock: FakeClock):
        self.app = app
        self.fake = fake
        self.client = client
        self.clock = clock
        self._ids = itertools.count(1)
        self.backoffs: list[float] = []  # each back-off the client took, instead of sleeping
        self.transport.http.sleep = self._no_sleep

    @property
    def transport(self) -> DingTalkTransport:
        transport = self.app.transports["dingtalk"]
        assert isinstance(transport, DingTalkTransport)
        return transport

    async def _no_sleep(self, seconds: float) -> None:
        self.backoffs.append(seconds)

    def now_ms(self) -> int:
        return int(self.clock.now().timestamp() * 1000)

    def payload(
        self,
        text: str,
        *,
        sender: str | None = "chen-dt",
        nick: str = "陈书记",
        msg_id: str | None = None,
        **kw: Any,
    ) -> dict[str, Any]:
        n = next(self._ids)
        kw.setdefault("session_webhook", self.fake.session_webhook(f"s{n}"))
        return callback_payload(
            text,
            msg_id=msg_id or f"msg{n}==",
            staff_id=sender,
            nick=nick,
            now_ms=self.now_ms(),
            **kw,
        )

    async def post(self, body: dict[str, Any] | bytes, headers: dict[str, str] | None = None):
        data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
        if headers is None:
            headers = callback_headers(self.now_ms())
        return await self.client.post("/dingtalk/robot", data=data, headers=headers)

    async def say(self, text: str, **kw: Any) -> dict[str, Any]:
        """Post a signed text callback; the JSON the bot answered with."""
        resp = await self.post(self.payload(text, **kw))
        assert resp.status == 200, await resp.text()
        return await resp.json()

    async def rows(self, model: type) -> list[Any]:
        async with self.app.db.read() as s:
            return list((await s.exec(select(model))).all())

    async def checkins(self) -> list[CheckIn]:
        return await self.rows(CheckIn)

    async def inbound(self) -> list[InboundMessage]:
        return await self.rows(InboundMessage)

    async def groups(self) -> list[Group]:
        return await self.rows(Group)


@asynccontextmanager
async def dingtalk_bot(
    tmp_path: Path, clock: FakeClock, roster_file: Path, postgres_url: str | None = None
) -> AsyncIterator[DingTalkHarness]:
    """The whole bot with DingTalk configured against a fresh fake, served on loopback."""
    fake = FakeDingTalk(clock)
    await fake.start()
    overrides: dict[str, Any] = {"database": {"url": postgres_url}} if postgres_url else {}
    settings = make_settings(
        tmp_path,
        branches=[{"name": BUREAU, "daily_checkin": True}, {"name": SCHOOL, "daily_checkin": True}],
        dingtalk=fake.app_config(),
        **overrides,
    )
    try:
        async with (
            started_app(settings, clock, roster_file, bool(postgres_url)) as app,
            TestClient(TestServer(app.web_app(), host="127.0.0.1")) as client,
        ):
            adapter = app.platform(DingTalkPlatform).adapter
            assert adapter is not None
            # The reply wait is wall-clock time; on a loaded CI host a cold first statement
            # can pass 1 s. Tests of the late path shorten it themselves.
            adapter.reply_wait = REPLY_WAIT
            yield DingTalkHarness(app, fake, client, clock)
    finally:
        await fake.close()
