"""`qingfeng outbox resend`: a failed push goes out again, once, after the fix."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from bot.app import App
from bot.cli import cli
from bot.clock import FakeClock
from bot.messages import Reply
from bot.sending import SendError
from storage import members, outbox
from storage.models import Member, OutboxState
from tests.recording_transport import RecordingTransport


async def _cli(app: App, tmp_path: Path, *args: str):
    config = tmp_path / "q.toml"
    config.write_text(f'[database]\nurl = "{app.settings.database.url}"\n', encoding="utf-8")
    runner = CliRunner()
    return await asyncio.to_thread(runner.invoke, cli, [*args, "--config", str(config)])


async def _states(app: App) -> dict[int, str]:
    async with app.db.read() as s:
        return {r.id: r.state for r in await outbox.rows_by_kind(s) if r.id is not None}


async def test_failed_push_is_resent_once(app: App, clock: FakeClock, tmp_path: Path) -> None:
    sent = RecordingTransport(failures=[SendError("errcode 93000 机器人地址无效", permanent=True)])
    app.transports["wecom"] = sent
    async with app.db.write() as s:
        await app.services.pusher.to_branch_groups(s, None, "notice", "n1", Reply("通知"))
    await app.reminders.worker.run_due()
    states = await _states(app)
    assert sorted(states.values()) == ["failed", "sent"]
    assert len(sent.sent) == 1

    listing = await _cli(app, tmp_path, "outbox", "--failed")
    failed_id = next(i for i, st in states.items() if st == "failed")
    assert f"#{failed_id}  " in listing.output and "通知" in listing.output

    result = await _cli(app, tmp_path, "outbox", "resend", "--failed", "--since", "2026-11-01")
    assert result.exit_code == 0, result.output
    assert f"已重新排队 1 条推送：#{failed_id}" in result.output
    assert (await _states(app))[failed_id] == "pending"

    # The resend is due at the real now; the worker runs a little after it.
    clock.set(datetime.now(UTC) + timedelta(minutes=1))
    await app.reminders.worker.run_due()
    await app.reminders.worker.run_due()
    assert len(sent.sent) == 2  # the one that failed, once; the sent one not again
    assert sorted((await _states(app)).values()) == ["sent", "sent"]

    again = await _cli(app, tmp_path, "outbox", "resend", "--failed")
    assert again.exit_code == 1 and "没有需要重新发送的推送。" in again.output


async def test_resend_by_id_leaves_other_rows_alone(app: App, tmp_path: Path) -> None:
    sent = RecordingTransport(
        failures=[SendError("errcode 93000 机器人地址无效", permanent=True)] * 2
    )
    app.transports["wecom"] = sent
    async with app.db.write() as s:
        await app.services.pusher.to_branch_groups(s, None, "notice", "n1", Reply("通知"))
    await app.reminders.worker.run_due()
    ids = sorted(await _states(app))
    result = await _cli(app, tmp_path, "outbox", "resend", str(ids[0]), "999")
    assert result.exit_code == 0, result.output
    assert "#999 不是失败或错过的推送（或不存在），未改动。" in result.output
    assert await _states(app) == {ids[0]: "pending", ids[1]: "failed"}


async def test_resend_needs_ids_or_failed(app: App, tmp_path: Path) -> None:
    result = await _cli(app, tmp_path, "outbox", "resend")
    assert result.exit_code == 1 and "请给出推送编号" in result.output
    result = await _cli(app, tmp_path, "outbox", "resend", "--failed", "--since", "12月")
    assert result.exit_code == 1 and "--since 的格式应为 YYYY-MM-DD" in result.output


async def test_direct_push_to_unbound_person_says_who_and_what_to_do(
    app: App, clock: FakeClock
) -> None:
    app.transports["wecom"] = RecordingTransport()
    async with app.db.write() as s:
        newcomer = await members.member_by_phone(s, "13900000019")
        assert isinstance(newcomer, Member) and newcomer.id is not None
        now = clock.now().astimezone(UTC)
        row = {
            "key": "direct:1",
            "kind": "absentees",
            "due_at": now,
            "payload": Reply("缺席名单").to_json(),
            "member_id": newcomer.id,
        }
        await outbox.enqueue(s, [row], now)
    await app.reminders.worker.run_due()
    async with app.db.read() as s:
        (failed,) = await outbox.rows_by_kind(s, "absentees")
    assert failed.state == OutboxState.FAILED.value
    assert failed.last_error == (
        "新同志 没有绑定企业微信账号，请在群里发「绑定」或由管理员导入账号"
    )
