"""The outbox worker: each push once per target, retries, permanent failures, downtime."""

from __future__ import annotations

from datetime import timedelta

from qingfeng.bot.app import App
from qingfeng.bot.clock import FakeClock
from qingfeng.bot.sending import SendError
from qingfeng.storage import outbox
from qingfeng.storage.models import OutboxState
from tests.conftest import at
from tests.recording_transport import RecordingTransport


def recorder(app: App) -> RecordingTransport:
    t = RecordingTransport()
    app.transports["wecom"] = t
    return t


async def rows(app: App, kind: str | None = None):
    async with app.db.read() as s:
        return list(await outbox.rows_by_kind(s, kind))


async def test_new_year_reminder_goes_to_every_group_once(app: App, clock: FakeClock) -> None:
    sent = recorder(app)
    clock.set(at("2026-12-31 14:00"))
    await app.reminders.tick()
    assert not [s for s in sent.sent if "元旦" in s.text]  # written ahead, not yet due
    written = await rows(app, "holiday")
    assert {r.state for r in written} == {"pending"} and len(written) == 2
    clock.set(at("2026-12-31 15:00"))
    await app.reminders.tick()
    await app.reminders.tick()
    new_year = [s for s in sent.sent if "元旦廉洁提醒" in s.text]
    assert sorted(s.to for s in new_year) == ["wr-bureau", "wr-school"]
    assert "1月1日(周五)起放假" in new_year[0].text
    assert {r.state for r in await rows(app, "holiday")} == {"sent"}
