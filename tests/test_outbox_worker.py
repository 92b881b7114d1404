"""The outbox worker: each push once per target, retries, permanent failures, downtime."""

from __future__ import annotations

from datetime import timedelta

from bot.app import App
from bot.clock import FakeClock
from bot.sending import SendError
from storage import outbox
from storage.models import OutboxState
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


async def test_theme_day_rule_creates_the_event_and_its_reminders(
    app: App, clock: FakeClock
) -> None:
    sent = recorder(app)
    clock.set(at("2026-12-01 08:10"))
    await app.reminders.tick()
    async with app.db.read() as s:
        from storage import reminders

        events = await reminders.events_between(s, at("2026-12-01 00:00"), at("2027-01-01 00:00"))
    theme = [
        (e.kind, e.starts_at.astimezone(clock.tz), b.name)
        for e, b in events
        if e.kind == "主题党日"
    ]
    # The first Friday of December 2026 is the 4th, a working day.
    assert [t[1].strftime("%m-%d %H:%M") for t in theme] == ["12-04 15:00", "12-04 15:00"]
    assert all(e.rule_key for e, _ in events)
    # Regenerating does not duplicate rule events or rows.
    before = len(await rows(app))
    await app.reminders.tick()
    assert len(await rows(app)) == before

    clock.set(at("2026-12-01 09:00"))  # 3 days before, 09:00
    await app.reminders.tick()
    previews = [s for s in sent.sent if s.text.startswith("📅 主题党日预告")]
    assert sorted(s.to for s in previews) == ["wr-bureau", "wr-school"]
    assert "12月4日(周五) 15:00" in previews[0].text
    # Each branch numbers its meetings; the preview says how to ask leave for this one.
    assert all(p.text.startswith("📅 主题党日预告（#1）") for p in previews)
    assert all("有事请提前发「请假 1 原因」。" in p.text for p in previews)
    clock.set(at("2026-12-04 08:00"))
    await app.reminders.tick()
    clock.set(at("2026-12-04 14:30"))
    await app.reminders.tick()
    bureau = sent.to("wr-bureau")
    assert sum(t.startswith("🔔 今天 15:00 主题党日") for t in bureau) == 1
    assert sum(t.startswith("✅ 主题党日开始签到") for t in bureau) == 1
    assert "签到时间：14:30–16:00" in next(t for t in bureau if t.startswith("🔔"))


async def test_a_branch_that_scheduled_its_own_theme_day_gets_no_rule_one(
    app: App, clock: FakeClock
) -> None:
    from storage import members, reminders
    from storage.models import Event

    async with app.db.write() as s:
        branches = list(await members.all_branches(s))
        own = branches[0]
        s.add(Event(branch_id=own.id, kind="主题党日", starts_at=at("2026-12-10 16:00")))
    clock.set(at("2026-12-01 08:10"))
    await app.reminders.tick()
    await app.reminders.tick()  # a second pass changes nothing
    async with app.db.read() as s:
        events = await reminders.events_between(s, at("2026-12-01 00:00"), at("2027-01-01 00:00"))
    theme = sorted(
        (b.name, e.starts_at.astimezone(clock.tz).strftime("%m-%d %H:%M"), e.rule_key is None)
        for e, b in events
        if e.kind == "主题党日"
    )
    others = sorted((b.name, "12-04 15:00", False) for b in branches[1:])
    assert theme == sorted([(own.name, "12-10 16:00", True), *others])


async def test_absentees_go_to_the_secretary_when_signin_closes(
    app: App, clock: FakeClock, chat
) -> None:
    sent = recorder(app)
    clock.set(at("2026-12-03 12:00"))
    await app.reminders.tick()
    clock.set(at("2026-12-04 14:50"))
    assert "签到" in await chat.text("wang", "签到")
    await chat.text("sun", "签到")
    clock.set(at("2026-12-04 16:00"))
    await app.reminders.tick()
    to_li = sent.to("li")  # 李书记's WeCom account, a direct push
    assert len(to_li) == 1
    assert "应到 4 人，未签到 2 人" in to_li[0] and "周管理、李书记" in to_li[0]
    to_chen = sent.to("chen")  # 一中: nobody signed in
    assert len(to_chen) == 1 and "陈书记、刘老师、新同志" in to_chen[0]


async def test_transient_failures_end_in_one_delivery(app: App, clock: FakeClock) -> None:
    sent = recorder(app)
    sent.failures = [
        SendError("errcode 45009 接口调用超过限制", permanent=False),
        SendError("errcode 130101 发送太快", permanent=False, retry_after=600),
    ]
    async with app.db.write() as s:
        n = await app.services.pusher.to_branch_groups(s, None, "notice", "notice:1", _msg("通知"))
    assert n == 2
    report = await app.reminders.worker.run_due()
    assert report.sent == 0 and report.retried == 2
    [first, second] = await rows(app, "notice")
    assert first.state == second.state == "pending"
    # The throttled one waits at least DingTalk's 10 minutes.
    waits = sorted(r.next_attempt_at - clock.now() for r in (first, second))
    assert waits[0] >= timedelta(seconds=30) and waits[1] >= timedelta(minutes=10)
    clock.advance(timedelta(minutes=1))
    assert (await app.reminders.worker.run_due()).sent == 1
    clock.advance(timedelta(minutes=10))
    assert (await app.reminders.worker.run_due()).sent == 1
    assert (await app.reminders.worker.run_due()).sent == 0
    assert sent.counts() == {"wr-bureau": 1, "wr-school": 1}
    assert {r.state for r in await rows(app, "notice")} == {OutboxState.SENT}
    assert {r.attempts for r in await rows(app, "notice")} == {2}


async def test_permanent_failure_is_kept_with_its_reason(app: App, clock: FakeClock) -> None:
    sent = recorder(app)
    sent.failures = [SendError("errcode 93000 机器人 webhook 无效", permanent=True)]
    async with app.db.write() as s:
        await app.services.pusher.to_branch_groups(s, None, "notice", "notice:2", _msg("通知"))
    report = await app.reminders.worker.run_due()
    assert report.failed == 1 and report.sent == 1
    assert "93000" in report.errors[0]
    clock.advance(timedelta(hours=2))
    assert (await app.reminders.worker.run_due()).sent == 0  # never retried
    async with app.db.read() as s:
        failed = await outbox.listing(s, failed_only=True)
    assert [(r.state, r.last_error) for r, _, _ in failed] == [
        ("failed", "errcode 93000 机器人 webhook 无效")
    ]


async def test_push_due_while_down_goes_out_within_grace_and_older_is_missed(
    app: App, clock: FakeClock
) -> None:
    sent = recorder(app)
    clock.set(at("2026-12-28 10:00"))
    await app.reminders.tick()  # writes 元旦 (12-31 15:00) ahead of time
    clock.set(at("2026-12-31 19:00"))  # down from before 15:00 until 19:00: within 6 h
    await app.reminders.tick()
    assert len([s for s in sent.sent if "元旦廉洁提醒" in s.text]) == 2
    # A push that fell due more than 6 h before the restart is marked missed, not sent.
    async with app.db.write() as s:
        await app.services.pusher.to_branch_groups(s, None, "notice", "old", _msg("旧通知"))
    clock.advance(timedelta(hours=7))
    report = await app.reminders.worker.run_due()
    assert report.missed == 2 and not [s for s in sent.sent if s.text == "旧通知"]
    assert {r.state for r in await rows(app, "notice")} == {"missed"}


def _msg(text: str):
    from bot.messages import Reply

    return Reply(text)


async def test_group_target_carries_the_configured_webhook_and_secret(
    tmp_path, clock: FakeClock, roster_file
) -> None:
    from handlers.roster import import_roster
    from storage.migrate import upgrade
    from tests.conftest import BUREAU, make_settings

    settings = make_settings(
        tmp_path,
        groups=[
            {
                "name": "机关钉钉群",
                "branch": BUREAU,
                "platform": "dingtalk",
                "chat_id": "cid-bureau",
                "webhook": "http://127.0.0.1:9/robot/send?access_token=t",
                "secret": "SEC-test",
            },
            {"name": "无编号群", "branch": BUREAU, "platform": "wecom"},
        ],
    )
    app = App(settings, clock=clock)
    await upgrade(app.db)
    await import_roster(app.db, roster_file, clock.now())
    await app.initialize()
    ding = RecordingTransport(platform="dingtalk")
    app.transports["dingtalk"] = ding
    try:
        async with app.db.write() as s:
            await app.services.pusher.to_branch_groups(s, None, "notice", "n", _msg("通知"))
        report = await app.reminders.worker.run_due()
        [sent] = ding.sent
        assert sent.target is not None
        assert (sent.target.chat_id, sent.target.webhook, sent.target.secret) == (
            "cid-bureau",
            "http://127.0.0.1:9/robot/send?access_token=t",
            "SEC-test",
        )
        # A WeCom group without a webhook cannot be pushed to: kept with the reason.
        assert report.failed == 1
        async with app.db.read() as s:
            [(row, group, _)] = await outbox.listing(s, failed_only=True)
        assert (group, row.state) == ("无编号群", "failed") and "webhook" in row.last_error
    finally:
        await app.shutdown()


async def test_each_push_writes_one_log_line_with_its_ids(app: App, clock: FakeClock, caplog):
    import logging

    from bot.logs import KeyValueFormatter

    recorder(app)
    caplog.set_level(logging.INFO, logger="schedules.worker")
    clock.set(at("2026-12-31 14:00"))
    await app.reminders.tick()
    clock.set(at("2026-12-31 15:00"))
    await app.reminders.tick()
    keys = {r.id: r.key for r in await rows(app, "holiday")}
    lines = [KeyValueFormatter().format(r) for r in caplog.records if r.getMessage() == "push"]
    lines = [ln for ln in lines if " key=holiday:" in ln]  # not the morning's previews
    assert len(lines) == len(keys) == 2
    for row_id, key in keys.items():
        (line,) = [ln for ln in lines if f"outbox_id={row_id} " in ln]
        assert line.endswith(f"push status=sent platform=wecom outbox_id={row_id} key={key}")
