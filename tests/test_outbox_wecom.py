"""The outbox through the real WeCom transport, against the fake WeCom server on loopback."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.clock import FakeClock
from tests.conftest import at
from tests.fakes.wecom import FakeWeCom, WeComBot

pytest_plugins = ["tests.fakes.wecom_fixtures"]
WECOM_GROUPS = 30


@pytest.fixture
def no_waiting(bot: WeComBot, clock: FakeClock) -> None:
    transport = bot.app.transports["wecom"]

    async def sleep(seconds: float) -> None:  # the transport's own back-off moves the clock
        clock.advance(timedelta(seconds=seconds))

    transport.sleep = sleep  # type: ignore[attr-defined]


async def test_holiday_reminder_reaches_each_wecom_group_once_despite_failures(
    bot: WeComBot, fake: FakeWeCom, clock: FakeClock, no_waiting: None
) -> None:
    clock.set(at("2026-12-31 14:00"))
    await bot.app.reminders.tick()
    fake.fail("webhook", "5xx", "45009", "5xx", "5xx", "5xx")
    clock.set(at("2026-12-31 15:00"))
    await bot.app.reminders.tick()
    for _ in range(6):  # retries fall due over the next minutes
        clock.advance(timedelta(minutes=2))
        await bot.app.reminders.worker.run_due()
    per_robot = {
        key: sum("元旦廉洁提醒" in m["text"]["content"] for m in messages)
        for key, messages in fake.pushes.items()
    }
    assert len(per_robot) == WECOM_GROUPS
    assert set(per_robot.values()) == {1}
    assert not fake.failures["webhook"]  # every injected failure was met and got past


async def test_absentees_reach_the_secretary_through_the_wecom_app(
    bot: WeComBot, fake: FakeWeCom, clock: FakeClock, no_waiting: None
) -> None:
    clock.set(at("2026-12-03 12:00"))
    await bot.app.reminders.tick()
    clock.set(at("2026-12-04 16:00"))
    await bot.app.reminders.tick()
    to_li = [m for m in fake.messages if m.get("touser") == "li"]
    assert len(to_li) == 1
    assert "主题党日签到结束" in to_li[0]["text"]["content"]
    assert "周管理、李书记、王党员、孙预备" in to_li[0]["text"]["content"]
