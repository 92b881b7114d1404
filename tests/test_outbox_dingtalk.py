"""The outbox through the real DingTalk transport: 130101 waits out the 10-minute throttle."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bot.clock import FakeClock
from bot.messages import Reply
from bot.platforms.dingtalk.transport import DingTalkTransport
from storage import outbox
from tests.conftest import BUREAU, make_settings, started_app
from tests.fakes.dingtalk import FakeDingTalk


async def test_a_throttled_dingtalk_push_waits_ten_minutes_then_goes_out_once(
    tmp_path: Path, clock: FakeClock, roster_file: Path, postgres_url: str | None
) -> None:
    fake = FakeDingTalk(clock)
    await fake.start()
    webhook = fake.add_custom_robot("robot-1", "SEC-1")
    settings = make_settings(
        tmp_path,
        groups=[
            {
                "name": "机关钉钉群",
                "branch": BUREAU,
                "platform": "dingtalk",
                "chat_id": "cid-1",
                "webhook": webhook,
                "secret": "SEC-1",
            }
        ],
        dingtalk=fake.app_config(),
        **({"database": {"url": postgres_url}} if postgres_url else {}),
    )

    async def no_sleep(seconds: float) -> None:
        pass

    try:
        async with started_app(settings, clock, roster_file, bool(postgres_url)) as app:
            transport = app.transports["dingtalk"]
            assert isinstance(transport, DingTalkTransport)
            transport.http.sleep = no_sleep  # type: ignore[method-assign]
            fake.fail("webhook", "130101")
            async with app.db.write() as s:
                await app.services.pusher.to_branch_groups(
                    s, None, "notice", "n", Reply("廉洁提醒")
                )
            assert (await app.reminders.worker.run_due()).retried == 1
            async with app.db.read() as s:
                [row] = await outbox.rows_by_kind(s, "notice")
            assert row.next_attempt_at is not None
            assert row.next_attempt_at - clock.now() >= timedelta(minutes=10)
            clock.advance(timedelta(minutes=5))
            assert (await app.reminders.worker.run_due()).sent == 0  # still throttled
            clock.advance(timedelta(minutes=6))
            assert (await app.reminders.worker.run_due()).sent == 1
            assert fake.texts("webhook") == ["廉洁提醒"]
    finally:
        await fake.close()
