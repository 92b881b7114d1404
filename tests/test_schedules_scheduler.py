"""The APScheduler wiring, start-up catch-up, `qingfeng outbox` and the demo's /time."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

from typer.testing import CliRunner

from bot.app import App
from bot.cli import cli
from bot.clock import FakeClock
from bot.demo import run_demo
from bot.messages import Reply
from bot.sending import SendError
from schedules.scheduler import PLAN_JOB, WORKER_JOB
from tests.conftest import at
from tests.recording_transport import RecordingTransport


async def test_app_start_runs_the_scheduler_and_sends_what_fell_due_while_down(
    app: App, clock: FakeClock, tmp_path: Path
) -> None:
    assert app.reminders.scheduler is None  # a FakeClock app is driven by its caller
    clock.set(at("2026-12-31 10:00"))
    await app.reminders.tick()  # 元旦 rows written ahead, due 15:00
    await app.stop()
    await app.shutdown()

    clock.set(at("2026-12-31 17:30"))  # the bot was down at 15:00
    restarted = App(app.settings, clock=clock, schedule=True)
    sent = RecordingTransport()
    restarted.transports["wecom"] = sent
    await restarted.initialize()
    await restarted.start()
    try:
        sched = restarted.reminders.scheduler
        assert sched is not None and str(sched.timezone) == "Asia/Shanghai"
        jobs = {j.id: j for j in sched.get_jobs()}
        assert set(jobs) == {WORKER_JOB, PLAN_JOB}
        assert all(j.coalesce and j.max_instances == 1 for j in jobs.values())
        await restarted.reminders.idle()  # the catch-up pass started by start()
        new_year = [s.to for s in sent.sent if "元旦廉洁提醒" in s.text]
        assert sorted(new_year) == ["wr-bureau", "wr-school"]
    finally:
        await restarted.stop()
        assert restarted.reminders.scheduler is None
        await restarted.shutdown()


async def test_cli_outbox_shows_states_and_failed_reasons(
    app: App, clock: FakeClock, tmp_path: Path
) -> None:
    sent = RecordingTransport(failures=[SendError("errcode 40058 参数错误", permanent=True)])
    app.transports["wecom"] = sent
    async with app.db.write() as s:
        await app.services.pusher.to_branch_groups(s, None, "notice", "n1", Reply("通知"))
    await app.reminders.worker.run_due()
    config = tmp_path / "q.toml"
    config.write_text(f'[database]\nurl = "{app.settings.database.url}"\n', encoding="utf-8")
    runner = CliRunner()
    every = await asyncio.to_thread(runner.invoke, cli, ["outbox", "--config", str(config)])
    failed = await asyncio.to_thread(
        runner.invoke, cli, ["outbox", "--failed", "--config", str(config)]
    )
    assert every.exit_code == 0 and failed.exit_code == 0, every.output + failed.output
    assert "2026-12-01 08:10  已发送  通知  → " in every.output
    assert "失败  通知  → 机关群" in failed.output
    assert "原因：errcode 40058 参数错误" in failed.output
    assert "已发送" not in failed.output


async def test_demo_time_prints_each_push_that_falls_due_once(tmp_path: Path) -> None:
    lines: list[str] = []
    script = "/time 2026-12-04 14:40\n签到\n/time 2026-12-04 14:40\n/time 2026-12-04 16:30\n"
    await run_demo(
        tmp_path / "demo.db",
        at("2026-11-30 20:00").replace(tzinfo=None),
        io.StringIO(script),
        lines.append,
    )
    out = "\n".join(lines)
    bureau_group = "📢 [推送 → 县教育局机关党支部群]"
    assert out.count(f"{bureau_group}\n  📅 主题党日预告") == 1
    assert out.count(f"{bureau_group}\n  🔔 今天 15:00 主题党日") == 1
    assert out.count(f"{bureau_group}\n  ✅ 主题党日开始签到") == 1
    assert out.index("⏰ 2026-12-01 09:00") < out.index("⏰ 2026-12-04 08:00")
    assert out.count("📩 [私信 → 李卫东]\n  📋 主题党日签到结束") == 1
    absent = out.split("📩 [私信 → 李卫东]\n  📋 主题党日签到结束")[1].split("请了解")[0]
    assert "未签到 5 人" in absent and "王晓梅" not in absent  # she signed in at 14:40
