"""One bot with all three callback routes on loopback, for the bad-input suite.

WeCom (智能机器人 and 自建应用) and DingTalk are configured against their fakes at once, so a
test module drives `/wecom/aibot`, `/wecom/app` and `/dingtalk/robot` on one app. The
harness signs requests the way each platform does, counts the rows a request could write,
and collects every ERROR log record (aiohttp logs an unhandled handler exception as one, and
the dispatcher logs a crashed handler as one), so a test can say "no 500, nothing crashed".
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, settings
from sqlmodel import func, select

from bot.app import App
from bot.clock import FakeClock
from storage.models import (
    Account,
    Attendance,
    CheckIn,
    Group,
    InboundMessage,
    Outbox,
    StudyConfirmation,
)
from tests.conftest import BUREAU, SCHOOL, make_settings, started_app
from tests.fakes import dingtalk as dt
from tests.fakes import wecom as wc

AIBOT, APP, ROBOT = "/wecom/aibot", "/wecom/app", "/dingtalk/robot"


def fuzz(max_examples: int) -> settings:
    """Hypothesis settings for this suite: reproducible (derandomized, no example database),
    no deadline, and one app shared by all examples of a test."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


ROUTES = (AIBOT, APP, ROBOT)
# Every table a callback could write to.
TABLES = (InboundMessage, CheckIn, Group, Attendance, StudyConfirmation, Outbox, Account)


class ErrorLog(logging.Handler):
    """Keeps every record at ERROR or above, from any logger."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def lines(self) -> list[str]:
        return [f"{r.name}: {r.getMessage()}" for r in self.records]


@dataclass
class Callbacks:
    app: App
    http: TestClient
    clock: FakeClock
    aibot: wc.WeComSide
    wecom_app: wc.WeComSide
    errors: ErrorLog
    statuses: list[int] = field(default_factory=list)

    # --- sending ----------------------------------------------------------------------
    async def post(
        self,
        path: str,
        body: bytes,
        *,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes]:
        """POST raw bytes; the status and body of the answer (read in full)."""
        # skip_auto_headers: the request carries exactly the headers given, nothing guessed.
        resp: ClientResponse = await self.http.post(
            path,
            data=body,
            params=params,
            headers=headers or {},
            skip_auto_headers=("Content-Type",),
        )
        raw = await resp.read()
        self.statuses.append(resp.status)
        return resp.status, raw

    async def get(self, path: str, params: dict[str, str]) -> int:
        resp = await self.http.get(path, params=params)
        await resp.read()
        self.statuses.append(resp.status)
        return resp.status

    def now_ms(self) -> int:
        return int(self.clock.now().timestamp() * 1000)

    def aibot_signed(
        self, plain: bytes, *, age: timedelta = timedelta(0)
    ) -> tuple[dict[str, str], bytes]:
        """A 智能机器人 callback whose decrypted content is exactly `plain`."""
        encrypted = self.aibot.encrypt(plain)
        return self.aibot.query(encrypted, age=age), json.dumps({"encrypt": encrypted}).encode()

    def app_signed(
        self, plain: bytes, *, age: timedelta = timedelta(0)
    ) -> tuple[dict[str, str], bytes]:
        """A 自建应用 callback whose decrypted XML is exactly `plain`."""
        encrypted = self.wecom_app.encrypt(plain)
        outer = (
            f"<xml><ToUserName><![CDATA[{wc.CORP_ID}]]></ToUserName>"
            f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
        )
        return self.wecom_app.query(encrypted, age=age), outer.encode()

    def dingtalk_sign_in(self, msg_id: str) -> bytes:
        """A DingTalk group message 签到 from 陈书记 (replies stay on loopback)."""
        payload = dt.callback_payload(
            "签到",
            msg_id=msg_id,
            staff_id="chen-dt",
            nick="陈书记",
            now_ms=self.now_ms(),
            session_webhook="",
        )
        return json.dumps(payload).encode()

    def dingtalk_headers(self, *, age: timedelta = timedelta(0)) -> dict[str, str]:
        return dt.callback_headers(self.now_ms() - int(age.total_seconds() * 1000))

    # --- checking ---------------------------------------------------------------------
    async def counts(self) -> dict[str, int]:
        async with self.app.db.read() as s:
            return {
                m.__tablename__: (await s.exec(select(func.count()).select_from(m))).one()
                for m in TABLES
            }

    def assert_healthy(self) -> None:
        """No answer was a 5xx and nothing was logged as an error."""
        assert not [s for s in self.statuses if s >= 500], self.statuses
        assert not self.errors.records, self.errors.lines()


@asynccontextmanager
async def callbacks_bot(
    tmp_path: Path, clock: FakeClock, roster_file: Path, postgres_url: str | None
) -> AsyncIterator[Callbacks]:
    """The bot with WeCom (both callbacks) and DingTalk configured against their fakes."""
    errors = ErrorLog()
    root = logging.getLogger()
    root.addHandler(errors)
    async with wc.FakeWeCom(clock) as wecom:
        ding = dt.FakeDingTalk(clock)
        await ding.start()
        overrides: dict[str, Any] = {"database": {"url": postgres_url}} if postgres_url else {}
        settings = make_settings(
            tmp_path,
            **overrides,
            branches=[
                {"name": BUREAU, "daily_checkin": True},
                {"name": SCHOOL, "daily_checkin": True},
            ],
            groups=[
                {
                    "name": "机关群",
                    "branch": BUREAU,
                    "platform": "wecom",
                    "chat_id": "wr-bureau",
                    "webhook": wecom.robot("key-bureau"),
                }
            ],
            wecom={
                "corp_id": wc.CORP_ID,
                "api_base": wecom.base,
                "app": {
                    "agent_id": wc.AGENT_ID,
                    "secret": wc.APP_SECRET,
                    "token": wc.APP_TOKEN,
                    "encoding_aes_key": wc.APP_KEY,
                },
                "aibot": {"token": wc.AIBOT_TOKEN, "encoding_aes_key": wc.AIBOT_KEY},
            },
            dingtalk={
                "app_key": dt.APP_KEY,
                "app_secret": dt.APP_SECRET,
                "robot_code": dt.ROBOT_CODE,
                "api_base": ding.base_url,
            },
        )
        try:
            async with (
                started_app(settings, clock, roster_file, bool(postgres_url)) as app,
                TestClient(TestServer(app.web_app(), host="127.0.0.1")) as http,
            ):
                yield Callbacks(
                    app,
                    http,
                    clock,
                    wc.WeComSide(wc.AIBOT_TOKEN, wc.AIBOT_KEY, "", clock),
                    wc.WeComSide(wc.APP_TOKEN, wc.APP_KEY, wc.CORP_ID, clock),
                    errors,
                )
        finally:
            await ding.close()
            root.removeHandler(errors)
