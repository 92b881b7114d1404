"""The one set of rules, as each view shows it: 我的, 汇总, 未签到, 未学习, 催学, the export and
the pushes count the same slots, meetings and study tasks (storage/accounting.py)."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

import sqlalchemy as sa
from openpyxl import load_workbook

from bot.app import App
from bot.clock import FakeClock
from handlers.periods import parse_period
from handlers.summary import export_workbook
from storage.models import Account, Attendance, Event, Member, Outbox
from tests.conftest import BUREAU, Chat, at, branch_id, member_id
from tests.recording_transport import RecordingTransport

LONG_AGO = datetime(2026, 10, 1, tzinfo=UTC)


async def backdate(app: App) -> None:
    """Everyone on the roster since October."""
    async with app.db.write() as s:
        await s.exec(sa.update(Member).values(created_at=LONG_AGO))  # type: ignore[call-overload]


async def set_members(app: App, names: tuple[str, ...], **values: object) -> None:
    async with app.db.write() as s:
        stmt = sa.update(Member).where(sa.column("name").in_(names)).values(**values)
        await s.exec(stmt)  # type: ignore[call-overload]


async def add_member(
    app: App, name: str, joined: datetime, account: str, status: str = "党员"
) -> int:
    """A person added to the bureau's roster at `joined`, bound on WeCom as `account`."""
    bureau = await branch_id(app, BUREAU)
    async with app.db.write() as s:
        m = Member(name=name, branch_id=bureau, status=status, role="成员",
                   phone=f"137{abs(hash(name)) % 10**8:08d}", created_at=joined,
                   updated_at=joined)  # fmt: skip
        s.add(m)
        await s.flush()
        assert m.id is not None
        s.add(Account(platform="wecom", external_id=account, member_id=m.id))
        return m.id


async def add_event(
    app: App, number: int, kind: str, starts: str, party_group: str = "", cancelled: bool = False
) -> int:
    bureau = await branch_id(app, BUREAU)
    async with app.db.write() as s:
        ev = Event(branch_id=bureau, number=number, kind=kind, starts_at=at(starts),
                   party_group=party_group,
                   cancelled_at=at("2026-12-01 12:00") if cancelled else None)  # fmt: skip
        s.add(ev)
        await s.flush()
        assert ev.id is not None
        return ev.id


async def attend(app: App, event: int, name: str, status: str, when: str, reason: str = "") -> None:
    mid = await member_id(app, name)
    async with app.db.write() as s:
        s.add(Attendance(event_id=event, member_id=mid, status=status, at=at(when), reason=reason))


# ---- daily check-in ---------------------------------------------------------------------


async def test_a_person_imported_at_1605_owes_that_evening_not_that_morning(
    app: App, chat: Chat, clock: FakeClock
) -> None:
    await backdate(app)
    await add_member(app, "赵新人", at("2026-12-01 16:05"), "zhao")
    await chat.text("wang", "签到")  # 08:10
    clock.set(at("2026-12-01 17:00"))
    await chat.text("wang", "签退")
    clock.set(at("2026-12-01 20:30"))  # both windows have closed
    assert await chat.text("zhao", "我的") == (
        "📋 赵新人 · 本月\n2026-12-01 ~ 2026-12-31\n"
        "日常签到：按时 0，迟到 0，缺 1\n"  # the evening slot closed at 20:00, after 16:05
        "组织生活：出席 0，迟到 0，请假 0，缺席 0\n"
        "学习：已学 0，逾期 0，未学 0"
    )
    summary = await chat.text("li", "汇总")
    # 5 members x 2 slots + 赵's evening = 11 due; 王's 2 done.
    assert "日常签到 18%（2/11）" in summary
    assert "赵新人 按时0 迟到0 缺1" in summary and "王党员 按时2 迟到0 缺0" in summary
    assert await chat.text("li", "未签到") == (
        "🕒 县教育局机关党支部 · 12月1日(周二) 未签到\n\n"
        "【上班】4 人\n周管理、李书记、孙预备、钱群众\n\n"
        "【下班】5 人\n周管理、李书记、孙预备、钱群众、赵新人"
    )
    # Next morning, in the open window: 王's check-in shows at once, but no open slot is
    # owed yet (赵 owes last evening only).
    clock.set(at("2026-12-02 08:20"))
    await chat.text("wang", "签到")
    assert "日常签到：按时 3，迟到 0，缺 0" in await chat.text("wang", "我的")
    assert "日常签到：按时 0，迟到 0，缺 1" in await chat.text("zhao", "我的")
    clock.set(at("2026-12-02 10:00"))
    assert "日常签到：按时 0，迟到 0，缺 2" in await chat.text("zhao", "我的")
    summary = await chat.text("li", "汇总")
    # 5 members x 3 slots + 赵's 2 = 17 due; 王's 3 done.
    assert "日常签到 18%（3/17）" in summary


# ---- meetings ---------------------------------------------------------------------------


async def meetings_week(app: App) -> dict[str, int]:
    """The first week of December: a 支委会, a 党小组会 of 一组, a cancelled 主题党日, a 党课.

    Committee: 李书记 (书记) and 王党员 (组织委员). 一组: 周管理 and 孙预备; 王党员 is in 二组.
    """
    await backdate(app)
    await set_members(app, ("李书记",), committee="书记")
    await set_members(app, ("王党员",), committee="组织委员", party_group="二组")
    await set_members(app, ("周管理", "孙预备"), party_group="一组")
    ids = {
        "支委会": await add_event(app, 1, "支委会", "2026-12-02 10:00"),
        "党小组会": await add_event(app, 2, "党小组会", "2026-12-03 15:00", party_group="一组"),
        "主题党日": await add_event(app, 3, "主题党日", "2026-12-04 15:00", cancelled=True),
        "党课": await add_event(app, 4, "党课", "2026-12-08 15:00"),
    }
    await attend(app, ids["支委会"], "王党员", "出席", "2026-12-02 09:55")
    await attend(app, ids["党小组会"], "孙预备", "请假", "2026-12-02 18:00", "出差")
    await attend(app, ids["党小组会"], "钱群众", "出席", "2026-12-03 15:00")  # 群众: not counted
    await attend(app, ids["主题党日"], "王党员", "请假", "2026-12-01 09:00", "开会")  # cancelled
    await attend(app, ids["党课"], "周管理", "出席", "2026-12-08 14:58")
    return ids


async def test_each_meeting_expects_whom_it_is_for(app: App, chat: Chat, clock: FakeClock) -> None:
    await meetings_week(app)
    clock.set(at("2026-12-02 10:30"))  # the 支委会's sign-in is still open: nothing counts
    reply = await chat.say("li", "汇总 本月")
    assert "【组织生活】\n期间内没有已结束的活动。" in reply.text
    assert reply.image_png is None  # no attendance rate to draw
    clock.set(at("2026-12-08 15:30"))  # the 党课 is on: its sign-in is open until 16:00
    reply = await chat.say("li", "汇总 本月")
    assert reply.image_png is not None and reply.image_png.startswith(b"\x89PNG")
    summary = reply.text
    # 支委会: 李 (缺席), 王 (出席); 党小组会 of 一组: 周 (缺席), 孙 (请假). 4 expected, 1 came.
    assert "组织生活出勤 25%（1/4）" in summary
    assert (
        "【组织生活】\n"
        "周管理 出席0 迟到0 请假0 缺席1\n"
        "李书记 出席0 迟到0 请假0 缺席1\n"
        "王党员 出席1 迟到0 请假0 缺席0\n"
        "孙预备 出席0 迟到0 请假1 缺席0"
    ) in summary
    assert "组织生活：出席 1，迟到 0，请假 0，缺席 0" in await chat.text("wang", "我的")
    assert "组织生活：出席 0，迟到 0，请假 1，缺席 0" in await chat.text("sun", "我的")
    assert "组织生活" not in await chat.text("qian", "我的")  # a 群众 is never expected

    clock.set(at("2026-12-08 16:05"))  # the 党课's sign-in has closed: it counts now
    summary = await chat.text("li", "汇总 本月")
    assert "组织生活出勤 25%（2/8）" in summary
    assert "周管理 出席1 迟到0 请假0 缺席1" in summary
    assert "组织生活：出席 1，迟到 0，请假 0，缺席 1" in await chat.text("wang", "我的")


async def test_the_export_lists_each_expected_member_of_each_counted_meeting(
    app: App, clock: FakeClock
) -> None:
    await meetings_week(app)
    clock.set(at("2026-12-08 16:05"))
    bureau = await branch_id(app, BUREAU)
    period = parse_period("本月", date(2026, 12, 8))
    async with app.db.read() as s:
        body = await export_workbook(s, app.services, bureau, period, clock.now())
    assert body is not None
    wb = load_workbook(io.BytesIO(body))
    rows = [r[3:8] for r in wb["组织生活"].iter_rows(min_row=2, values_only=True)]
    assert rows == [
        (1, "支委会", "李书记", "缺席", None),
        (1, "支委会", "王党员", "出席", None),
        (2, "党小组会（一组）", "周管理", "缺席", None),
        (2, "党小组会（一组）", "孙预备", "请假", "出差"),
        (4, "党课", "周管理", "出席", None),
        (4, "党课", "李书记", "缺席", None),
        (4, "党课", "王党员", "缺席", None),
        (4, "党课", "孙预备", "缺席", None),
    ]
    head = [c.value for c in wb["汇总"][2]]
    assert head[2:7] == [8, 2, 0, 1, 5]  # 应到, 出席, 迟到, 请假, 缺席


# ---- study ------------------------------------------------------------------------------


async def test_a_task_counts_in_the_month_of_its_due_date(
    app: App, chat: Chat, clock: FakeClock
) -> None:
    await backdate(app)
    clock.set(at("2026-11-25 10:00"))
    reply = await chat.text("li", "发布学习 党章第一章 截止 2026-12-05")
    assert "范围：县教育局机关党支部 · 党员、预备党员" in reply
    clock.set(at("2026-11-26 10:00"))
    await chat.text("wang", "学习 1")
    clock.set(at("2026-12-10 10:00"))
    # Published in November, due in December: a December task, wherever it is counted.
    assert (await chat.text("wang", "我的 上月")).endswith("学习：已学 0，逾期 0，未学 0")
    assert (await chat.text("wang", "我的")).endswith("学习：已学 1，逾期 0，未学 0")
    assert (await chat.text("li", "汇总 上月")).endswith("【学习】\n期间内没有应完成的学习任务。")
    summary = await chat.text("li", "汇总")
    assert "学习完成 25%（1/4）" in summary  # 4 Party members; 钱群众 is not expected
    assert "钱群众 已学" not in summary


async def test_a_task_for_party_members_is_not_for_the_masses(
    app: App, chat: Chat, clock: FakeClock
) -> None:
    reply = await chat.text("li", "发布学习 安全教育 全体 截止 2026-12-10")
    assert reply.startswith(
        "✅ 已发布\n📚 新学习任务 #1《安全教育》\n范围：县教育局机关党支部 · 全体人员"
    )
    await chat.text("li", "发布学习 党章第二章 截止 2026-12-10")
    assert await chat.text("qian", "学习任务") == (
        "📚 学习任务\n⬜ 未学 #1《安全教育》\n  截止 12月10日(周四)\n学完发送「学习 编号」确认。"
    )
    assert await chat.text("qian", "学习 2") == "#2《党章第二章》 是党员学习任务，您无需确认。"
    assert await chat.text("qian", "学习") == "✅ 已确认学习 #1《安全教育》"
    assert await chat.text("li", "未学习 2") == (
        "📚 #2《党章第二章》\n县教育局机关党支部（党员）：已学 0 人，未学 4 人\n"
        "截止 12月10日(周四)\n\n未学：\n周管理、李书记、王党员、孙预备"
    )
    assert await chat.text("li", "未学习 1") == (
        "📚 #1《安全教育》\n县教育局机关党支部（全体人员）：已学 1 人，未学 4 人\n"
        "截止 12月10日(周四)\n\n未学：\n周管理、李书记、王党员、孙预备"
    )
    reply = await chat.say("li", "催学 2")
    assert [m.name for m in reply.mentions] == ["周管理", "李书记", "王党员", "孙预备"]
    assert (await chat.text("qian", "我的")).endswith("学习：已学 1，逾期 0，未学 0")


async def test_who_joined_after_the_due_date_is_not_expected(
    app: App, chat: Chat, clock: FakeClock
) -> None:
    await backdate(app)
    await chat.text("li", "发布学习 旧材料 截止 2026-12-03")
    await chat.text("li", "发布学习 新材料 截止 2026-12-10")
    await add_member(app, "赵新人", at("2026-12-04 09:00"), "zhao")
    clock.set(at("2026-12-04 10:00"))
    assert "未学 4 人" in await chat.text("li", "未学习 1")
    assert "赵新人" not in await chat.text("li", "未学习 1")
    assert "赵新人" in await chat.text("li", "未学习 2")
    assert (await chat.text("zhao", "我的")).endswith("学习：已学 0，逾期 0，未学 1")


async def test_the_deadline_push_of_a_task_for_everyone_names_the_masses_too(
    app: App, chat: Chat, clock: FakeClock
) -> None:
    sent = RecordingTransport()
    app.transports["wecom"] = sent
    await chat.text("li", "发布学习 安全教育 全体 截止 2026-12-09")
    await chat.text("li", "发布学习 党章第三章 截止 2026-12-09")
    for who in ("zhou", "li", "wang"):
        for number in (1, 2):
            await chat.text(who, f"学习 {number}")
    clock.set(at("2026-12-08 17:00"))
    await app.reminders.tick()
    await app.reminders.tick()
    pushes = [x for x in sent.sent if x.to == "wr-bureau" and "学习提醒" in x.text]
    by_task = {("安全教育" in x.text): x.mentions for x in pushes}
    assert by_task == {True: ("sun", "qian"), False: ("sun",)}


# ---- the monthly push -------------------------------------------------------------------


async def monthly_pushes(app: App, clock: FakeClock) -> RecordingTransport:
    sent = RecordingTransport()
    app.transports["wecom"] = sent
    clock.set(at("2026-11-30 12:00"))
    await app.reminders.tick()
    clock.set(at("2026-12-01 09:00"))  # the first working day of December, 09:00
    await app.reminders.tick()
    return sent


async def test_the_first_monthly_push_covers_the_days_since_the_roster_came(
    app: App, clock: FakeClock
) -> None:
    async with app.db.write() as s:
        await s.exec(sa.update(Member).values(created_at=at("2026-11-16 10:00")))  # type: ignore[call-overload]
    sent = await monthly_pushes(app, clock)
    [to_li] = sent.to("li")
    # November 16-30: 11 working days, 22 slots, less the morning of the 16th (closed at
    # 09:30, before the import at 10:00): 21 per member, 105 for five.
    assert to_li == (
        "📊 县教育局机关党支部 · 上月（11月16日起）\n2026-11-16 ~ 2026-11-30\n"
        "组织生活出勤 —（0/0）\n日常签到 0%（0/105）\n学习完成 —（0/0）\n\n"
        "【日常签到】\n周管理 按时0 迟到0 缺21\n李书记 按时0 迟到0 缺21\n王党员 按时0 迟到0 缺21\n"
        "孙预备 按时0 迟到0 缺21\n钱群众 按时0 迟到0 缺21\n\n"
        "【组织生活】\n期间内没有已结束的活动。\n\n【学习】\n期间内没有应完成的学习任务。\n\n"
        "🗣 谈心谈话：今年还有 4 名党员未谈心谈话，发送“谈心 情况”查看名单。"  # December: Q4
    )


async def test_no_monthly_push_for_a_month_before_the_roster(app: App, clock: FakeClock) -> None:
    # The test roster was imported on December 1 at 08:10: November is not reported.
    sent = await monthly_pushes(app, clock)
    assert sent.to("li") == [] and sent.to("chen") == []
    async with app.db.read() as s:
        rows = (await s.exec(sa.select(Outbox.state).where(Outbox.kind == "monthly_summary"))).all()
    assert [state for (state,) in rows] == ["skipped", "skipped"]
