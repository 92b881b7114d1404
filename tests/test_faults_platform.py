"""A platform down for a while: the holiday reminder reaches each group once after it recovers.

The existing outbox tests meet single failures the transport's own retries absorb. Here
the fake fails every request for longer than that (5xx, rate limits, or no answer at all
past the client timeout), so the first passes leave the rows to the outbox's back-off,
and the reminder still goes out exactly once per group when the platform is back.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path

import pytest

from bot.app import App
from bot.clock import FakeClock
from bot.platforms.dingtalk.transport import DingTalkTransport
from schedules.worker import RunReport
from storage import outbox
from storage.models import OutboxState
from tests.conftest import at, make_settings, started_app
from tests.fakes.dingtalk import FakeDingTalk
from tests.fakes.wecom import FakeWeCom, WeComBot

pytest_plugins = ["tests.fakes.wecom_fixtures"]
WECOM_GROUPS = 8  # the wecom_fixtures `bot` reads this
DINGTALK_GROUPS = 8
OUTAGE = 40  # failed requests: more than one pass of 8 groups × the transport's own tries
CLIENT_TIMEOUT = 0.2  # seconds; an unanswered request gives up after this
HOLIDAY = "元旦廉洁提醒"


async def recover(
    app: App, clock: FakeClock, done: object, outage: Callable[[], None]
) -> tuple[list[RunReport], Counter[str]]:
    """Worker passes as the scheduler would run them, minutes apart, until `done()`; also
    the holiday rows' states after the first pass at 15:00. The platform goes down
    (`outage()`) at 15:00, after the 14:00 pass has sent the branches' meeting previews
    (moved off 1 January to this morning)."""
    clock.set(at("2026-12-31 14:00"))
    await app.reminders.tick()  # the reminder is written ahead
    outage()
    clock.set(at("2026-12-31 15:00"))
    reports = [await app.reminders.tick()]
    first = await holiday_states(app)
    for _ in range(12):
        if done():  # type: ignore[operator]
            break
        clock.advance(timedelta(minutes=11))  # past back-off and DingTalk's 10-minute block
        reports.append(await app.reminders.worker.run_due())
    return reports, first


async def holiday_states(app: App) -> Counter[str]:
    async with app.db.read() as s:
        return Counter(r.state for r in await outbox.rows_by_kind(s, "holiday"))


@pytest.mark.parametrize("kind", ["5xx", "45009", "slow"])
async def test_wecom_outage_then_every_group_gets_the_reminder_once(
    kind: str, bot: WeComBot, fake: FakeWeCom, clock: FakeClock
) -> None:
    transport = bot.app.transports["wecom"]
    transport.timeout = CLIENT_TIMEOUT  # type: ignore[attr-defined]

    async def sleep(seconds: float) -> None:  # the transport's own back-off moves the clock
        clock.advance(timedelta(seconds=seconds))

    transport.sleep = sleep  # type: ignore[attr-defined]

    def per_robot() -> Counter[str]:
        return Counter(
            {
                key: n
                for key, pushes in fake.pushes.items()
                if (n := sum(HOLIDAY in p["text"]["content"] for p in pushes))
            }
        )

    _, first = await recover(
        bot.app,
        clock,
        lambda: len(per_robot()) == WECOM_GROUPS,
        lambda: fake.fail("webhook", *[kind] * OUTAGE),
    )

    assert first == {OutboxState.PENDING: WECOM_GROUPS}  # down: all deferred
    assert not fake.failures["webhook"]  # the whole outage was met
    assert per_robot() == Counter({f"key-{i}": 1 for i in range(WECOM_GROUPS)})
    assert await holiday_states(bot.app) == {OutboxState.SENT: WECOM_GROUPS}


@pytest.fixture
async def dingtalk_app(
    tmp_path: Path, clock: FakeClock, roster_file: Path, postgres_url: str | None
) -> AsyncIterator[tuple[App, FakeDingTalk]]:
    fake = FakeDingTalk(clock)
    await fake.start()
    groups = [
        {
            "name": f"钉钉群{i}",
            "platform": "dingtalk",
            "chat_id": f"cid-{i}",
            "webhook": fake.add_custom_robot(f"robot-{i}", f"SEC-{i}"),
            "secret": f"SEC-{i}",
        }
        for i in range(DINGTALK_GROUPS)
    ]
    settings = make_settings(
        tmp_path,
        groups=groups,
        dingtalk=fake.app_config(),
        **({"database": {"url": postgres_url}} if postgres_url else {}),
    )

    async def sleep(seconds: float) -> None:
        clock.advance(timedelta(seconds=seconds))

    try:
        async with started_app(settings, clock, roster_file, bool(postgres_url)) as app:
            transport = app.transports["dingtalk"]
            assert isinstance(transport, DingTalkTransport)
            transport.http.sleep = sleep  # type: ignore[method-assign]
            transport.http.timeout = CLIENT_TIMEOUT
            yield app, fake
    finally:
        await fake.close()


@pytest.mark.parametrize("kind", ["5xx", "130101", "timeout"])
async def test_dingtalk_outage_then_every_group_gets_the_reminder_once(
    kind: str, dingtalk_app: tuple[App, FakeDingTalk], clock: FakeClock
) -> None:
    app, fake = dingtalk_app

    def per_robot() -> Counter[str]:
        return Counter(d.target for d in fake.delivered if HOLIDAY in d.text)

    reports, first = await recover(
        app,
        clock,
        lambda: len(per_robot()) == DINGTALK_GROUPS,
        lambda: fake.fail("webhook", *[kind] * OUTAGE),
    )

    assert reports[0].sent == 0 and reports[0].retried == DINGTALK_GROUPS
    assert first == {OutboxState.PENDING: DINGTALK_GROUPS}  # down: all deferred
    assert fake.requests["webhook"] >= OUTAGE  # the whole outage was met
    assert per_robot() == Counter({f"robot-{i}": 1 for i in range(DINGTALK_GROUPS)})
    assert await holiday_states(app) == {OutboxState.SENT: DINGTALK_GROUPS}
