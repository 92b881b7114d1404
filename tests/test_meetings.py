"""Meetings as secretaries run them: numbers, 安排 that replaces the planned meeting, 改期,
取消, 补签, 补假, 请假 for a named meeting, who is expected, and the pushes that follow.

The test roster's 机关 has a committee (李书记 书记, 王党员 组织委员) and two 党小组
(第一: 周管理, 李书记; 第二: 王党员, 孙预备); 钱群众 is 群众. 一中 has neither. On 12-01 the
rules plan 机关's December as #1 主题党日 12-04 15:00, #2 支委会 12-08 16:00, #3 and #4
党小组会 (第一, 第二) 12-16 16:00, then January's #5–#9 (#7 党员大会 01-14 15:00).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlmodel import col, select

from bot.app import App
from bot.clock import FakeClock
from handlers.periods import parse_period
from handlers.roster import import_roster
from handlers.summary import long_absent
from storage import events, members, outbox
from storage.models import Attendance, Event, Member
from tests.conftest import BUREAU, SCHOOL, Chat, at, branch_id, member_id
from tests.recording_transport import RecordingTransport


def recorder(app: App) -> RecordingTransport:
    t = RecordingTransport()
    app.transports["wecom"] = t
    return t


async def attendance(app: App) -> list[tuple[str, int, str, str, int | None]]:
    """(member, event number, status, reason, entered by) in the order written."""
    async with app.db.read() as s:
        stmt = (
            select(Member.name, Event.number, Attendance)
            .join(Member, col(Member.id) == Attendance.member_id)
            .join(Event, col(Event.id) == Attendance.event_id)
            .order_by(col(Attendance.id))
        )
        rows = (await s.exec(stmt)).all()
    return [(n, num or 0, a.status, a.reason, a.entered_by) for n, num, a in rows]


async def meetings(app: App, branch: str) -> list[tuple[int, str, str, str, bool]]:
    """(number, kind, party group, local start, cancelled) of the branch's meetings."""
    bid = await branch_id(app, branch)
    async with app.db.read() as s:
        rows = (
            await s.exec(select(Event).where(Event.branch_id == bid).order_by(col(Event.number)))
        ).all()
    return [
        (
            e.number or 0,
            e.kind,
            e.party_group,
            e.starts_at.astimezone(at("2026-12-01 00:00").tzinfo).strftime("%m-%d %H:%M"),
            e.cancelled_at is not None,
        )
        for e in rows
    ]


async def add_event(
    app: App, branch: str, kind: str, when: str, party_group: str = "", place: str = ""
) -> int:
    async with app.db.write() as s:
        event = await events.create_event(
            s, await branch_id(app, branch), kind, at(when), place, party_group=party_group
        )
    assert event.number is not None
    return event.number


async def add_people(app: App, tmp_path: Path, clock: FakeClock, rows: str) -> None:
    path = tmp_path / "more.csv"
    path.write_text("姓名,支部,身份,角色,手机,企业微信账号\n" + rows, encoding="utf-8")
    await import_roster(app.db, path, clock.now())


# ---- 安排 of a planned kind, 改期 ---------------------------------------------------------


async def test_arranging_a_planned_kind_moves_it_with_its_number_and_leave(
    app: App, chat: Chat, clock: FakeClock
) -> None:
    sent = recorder(app)
    await app.reminders.tick()  # 12-01 08:10: the rules plan December
    reply = await chat.text("wang", "请假 1 外出培训")
    assert reply == "✅ 已登记请假：主题党日 12月4日(周五) 15:00（#1）\n原因：外出培训"
    reply = await chat.text("li", "安排 主题党日 2026-12-04 16:40 三楼会议室")
    assert reply == (
        "✅ 已改期：主题党日 #1\n支部：县教育局机关党支部\n"
        "时间：12月4日(周五) 15:00 → 12月4日(周五) 16:40\n地点：三楼会议室\n"
        "签到：16:10–17:40\n已请假 1 人，请假仍有效。"
    )
    # One 主题党日, moved; the leave given for it stands.
    schedule = await chat.text("wang", "日程")
    assert [ln for ln in schedule.splitlines() if "12月4日" in ln] == [
        "· #1 12月4日(周五) 16:40 主题党日"
    ]
    assert "· #1 12月4日(周五) 16:40 主题党日\n  地点：三楼会议室" in schedule
    assert (await meetings(app, BUREAU))[0] == (1, "主题党日", "", "12-04 16:40", False)
    wang = await member_id(app, "王党员")
    assert await attendance(app) == [("王党员", 1, "请假", "外出培训", None)]
    assert wang

    # Every push of the meeting tells the new time, once; the school's keeps 15:00.
    clock.set(at("2026-12-01 09:00"))
    await app.reminders.tick()
    previews = [t for t in sent.to("wr-bureau") if t.startswith("📅 主题党日预告")]
    assert len(previews) == 1 and "时间：12月4日(周五) 16:40" in previews[0]
    clock.set(at("2026-12-04 14:30"))
    await app.reminders.tick()
    assert not [t for t in sent.to("wr-bureau") if t.startswith("✅ 主题党日开始签到")]
    assert [t for t in sent.to("wr-school") if t.startswith("✅ 主题党日开始签到")]
    clock.set(at("2026-12-04 16:10"))
    await app.reminders.tick()
    opened = [t for t in sent.to("wr-bureau") if t.startswith("✅ 主题党日开始签到")]
    assert len(opened) == 1 and "16:40 开始" in opened[0]
    clock.set(at("2026-12-04 16:15"))
    reply = await chat.text("sun", "签到")
    assert reply.startswith("✅ 签到成功：主题党日（12月4日(周五) 16:40）")
    clock.set(at("2026-12-04 17:40"))
    await app.reminders.tick()
    assert sent.to("li") == [
        "📋 主题党日签到结束\n县教育局机关党支部 · 12月4日(周五) 16:40\n"
        "应到 4 人，未签到 2 人：\n周管理、李书记\n请假 1 人：王党员（外出培训）\n"
        "请了解缺席原因，做好谈心提醒（发送“谈心 情况”查看）。"
    ]


async def test_reschedule_withdraws_old_pushes_and_plans_the_new_time(
    app: App, chat: Chat, clock: FakeClock
) -> None:
    sent = recorder(app)
    await app.reminders.tick()
    clock.set(at("2026-12-01 09:00"))
    await app.reminders.tick()  # the 12-04 previews go out
    assert sum(t.startswith("📅 主题党日预告") for t in sent.to("wr-bureau")) == 1
    reply = await chat.text("li", "改期 1 2026-12-11 15:30")
    assert reply == (
        "✅ 已改期：主题党日 #1\n时间：12月4日(周五) 15:00 → 12月11日(周五) 15:30\n"
        "地点：党员活动室\n签到：15:00–16:30"
    )
    async with app.db.read() as s:
        rows = [r for r in await outbox.rows_by_kind(s) if r.key.startswith("event:1")]
    # What was still to go for 12-04 is withdrawn; the preview that went out stays on record.
    withdrawn = {r.kind for r in rows if r.state == "skipped" and r.last_error == "活动已改期"}
    assert withdrawn == {"event_today", "signin_open", "absentees"}
    assert [r.kind for r in rows if r.state == "sent"] == ["event_preview"]
    assert not [r for r in rows if r.key.startswith("event:1:")]

    clock.set(at("2026-12-04 15:00"))
    await app.reminders.tick()
    bureau = sent.to("wr-bureau")
    assert not [t for t in bureau if "主题党日" in t and not t.startswith("📅 主题党日预告")]
    clock.set(at("2026-12-08 09:00"))
    await app.reminders.tick()
    previews = [t for t in sent.to("wr-bureau") if t.startswith("📅 主题党日预告")]
    assert len(previews) == 2 and "时间：12月11日(周五) 15:30" in previews[1]
    clock.set(at("2026-12-11 15:00"))
    await app.reminders.tick()
    opened = [t for t in sent.to("wr-bureau") if t.startswith("✅ 主题党日开始签到")]
    assert len(opened) == 1 and "15:30 开始" in opened[0]


async def test_reschedule_refusals_change_nothing(app: App, chat: Chat, clock: FakeClock) -> None:
    await app.reminders.tick()
    before = await meetings(app, BUREAU)
    usage = "用法：改期 编号 YYYY-MM-DD HH:MM [地点]"
    cases = [
        ("li", "改期 99 2026-12-11 15:00", "本支部没有编号为 99 的活动，发送「日程」查看编号。"),
        ("li", "改期 1 2026-11-30 10:00", "11月30日(周一) 10:00 已经过去，请安排将来的时间。"),
        ("li", "改期 甲 2026-12-11 15:00", f"编号应是数字：甲\n{usage}"),
        ("li", "改期 1", f"请写编号、日期和时间。\n{usage}"),
        ("li", "改期 1 2026-12-04 15:00", "主题党日 #1（12月4日(周五) 15:00） 本来就在这个时间。"),
        ("li", "改期 1 2027-01-04 15:00", "1月4日(周一) 15:00 已有一场主题党日（#5）。"),
        ("wang", "改期 1 2026-12-11 15:00", "「改期」仅限支部书记和管理员使用。"),
        ("chen", "改期 1 2026-12-11 15:00", "您只能管理本支部的活动。"),
    ]
    for sender, message, expected in cases:
        assert await chat.text(sender, message) == expected, message
    # 改期 #4 (第二党小组) onto #3's time is a clash only for the same group: here, none.
    assert (await chat.text("li", "改期 4 2026-12-16 16:30")).startswith("✅ 已改期")
    clock.set(at("2026-12-04 14:50"))
    await chat.text("wang", "签到")
    assert await chat.text("li", "改期 1 2026-12-11 15:00") == (
        "主题党日 #1（12月4日(周五) 15:00） 已有 1 人签到，不能改期。"
    )
    clock.set(at("2026-12-04 15:05"))
    assert await chat.text("li", "改期 1 2026-12-11 15:00") == (
        "主题党日 #1（12月4日(周五) 15:00） 已经开始，不能改期。"
    )
    after = await meetings(app, BUREAU)
    assert [m for m in after if m[0] != 4] == [m for m in before if m[0] != 4]


async def test_arrange_names_the_party_group_and_quarterly_kinds_move_in_their_quarter(
    app: App, chat: Chat
) -> None:
    await app.reminders.tick()
    assert await chat.text("li", "安排 党小组会 2026-12-17 16:00") == (
        "请写明哪个党小组，如：安排 党小组会 第一党小组 日期 时间"
        "（本支部党小组：第一党小组、第二党小组）。"
    )
    assert await chat.text("li", "安排 党小组会 第三党小组 2026-12-17 16:00") == (
        "本支部没有“第三党小组”（本支部党小组：第一党小组、第二党小组）。"
    )
    reply = await chat.text("chen", "安排 党小组会 第一党小组 2026-12-17 16:00", chat="wr-school")
    assert reply == "本支部没有“第一党小组”（本支部花名册未分党小组）。"
    reply = await chat.text("li", "安排 党小组会 第二党小组 2026-12-17 16:30 小会议室")
    assert reply == (
        "✅ 已改期：党小组会（第二党小组） #4\n支部：县教育局机关党支部\n"
        "时间：12月16日(周三) 16:00 → 12月17日(周四) 16:30\n地点：小会议室\n签到：16:00–17:30"
    )
    # 党员大会 is quarterly: February is in the quarter of January's planned one.
    reply = await chat.text("li", "安排 党员大会 2027-02-10 15:00")
    assert reply.startswith("✅ 已改期：党员大会 #7\n支部：县教育局机关党支部\n"
                            "时间：1月14日(周四) 15:00 → 2月10日(周三) 15:00")
    # No 支委会 is planned for February yet: a new meeting, numbered on.
    reply = await chat.text("li", "安排 支委会 2027-02-10 16:00")
    assert reply.startswith("✅ 已安排：支委会 #10")
    got = await meetings(app, BUREAU)
    assert [m for m in got if m[1] == "党小组会" and m[3].startswith("12")] == [
        (3, "党小组会", "第一党小组", "12-16 16:00", False),
        (4, "党小组会", "第二党小组", "12-17 16:30", False),
    ]
    assert len(got) == 10


# ---- 取消 ---------------------------------------------------------------------------------


async def test_cancel_tells_those_on_leave_and_withdraws_every_push(
    app: App, chat: Chat, clock: FakeClock
) -> None:
    sent = recorder(app)
    await app.reminders.tick()
    await chat.text("wang", "请假 1 外出培训")
    await chat.text("sun", "请假 1 生病")
    reply = await chat.text("li", "取消 1 县里统一组织")
    assert reply == (
        "✅ 已取消：主题党日 #1（12月4日(周五) 15:00）\n原因：县里统一组织\n"
        "已私信告知请过假的：王党员、孙预备"
    )
    await app.reminders.tick()
    told = (
        "📅 县教育局机关党支部：主题党日 #1（12月4日(周五) 15:00） 已取消，原因：县里统一组织。\n"
        "您为它请的假无需再办。"
    )
    assert sent.to("wang") == [told] and sent.to("sun") == [told]
    assert "#1 " not in await chat.text("wang", "日程")
    assert await chat.text("wang", "请假 1 有事") == (
        "主题党日 #1（12月4日(周五) 15:00） 已取消，无需请假。"
    )
    assert await chat.text("li", "取消 1") == "主题党日 #1（12月4日(周五) 15:00） 已经取消过了。"
    # Nothing more about it: no preview, no sign-in, no absentee list; the rule does not
    # plan it again. The school's goes on.
    for when in ("2026-12-01 09:00", "2026-12-04 08:00", "2026-12-04 14:30", "2026-12-04 16:00"):
        clock.set(at(when))
        await app.reminders.tick()
    assert not [t for t in sent.to("wr-bureau") if "主题党日" in t]
    assert len([t for t in sent.to("wr-school") if "主题党日" in t]) == 3
    assert sent.to("li") == [] and len(sent.to("chen")) == 1
    bureau = await meetings(app, BUREAU)
    assert [m for m in bureau if m[1] == "主题党日" and m[3].startswith("12")] == [
        (1, "主题党日", "", "12-04 15:00", True)
    ]
    clock.set(at("2026-12-04 15:00"))
    assert await chat.text("wang", "签到") == "现在不在上班签到时间（07:00–09:30）。"
    assert await attendance(app) == [
        ("王党员", 1, "请假", "外出培训", None),
        ("孙预备", 1, "请假", "生病", None),
    ]


async def test_cancel_names_those_it_cannot_reach_and_admins_act_in_the_branch_group(
    app: App, chat: Chat, clock: FakeClock
) -> None:
    await app.reminders.tick()
    clock.set(at("2026-12-04 15:30"))  # nobody came to the school's 主题党日
    reply = await chat.text("chen", "补假 新同志 1 出差", chat="wr-school")
    assert reply == "✅ 已补假：新同志 · 主题党日 #1（12月4日(周五) 15:00）\n原因：出差"
    assert await chat.text("chen", "取消 1", chat="wr-bureau") == "您只能管理本支部的活动。"
    reply = await chat.text("zhou", "取消 1 临时停电", chat="wr-school")
    assert reply == (
        "✅ 已取消：主题党日 #1（12月4日(周五) 15:00）\n原因：临时停电\n"
        "未绑定账号，请另行告知：新同志"
    )
    assert [m[4] for m in await meetings(app, SCHOOL) if m[0] == 1] == [True]
    assert [m[4] for m in await meetings(app, BUREAU) if m[0] == 1] == [False]


async def test_a_meeting_someone_came_to_cannot_be_cancelled(
    app: App, chat: Chat, clock: FakeClock
) -> None:
    await app.reminders.tick()
    clock.set(at("2026-12-04 14:50"))
    await chat.text("wang", "签到")
    assert await chat.text("li", "取消 1") == (
        "主题党日 #1（12月4日(周五) 15:00） 已有 1 人签到，不能取消。"
    )
    assert await chat.text("li", "取消") == "请写要取消的活动编号。\n用法：取消 编号 [原因]"
    assert not any(m[4] for m in await meetings(app, BUREAU))


# ---- 补签 and 补假 ------------------------------------------------------------------------


async def test_make_up_records_are_marked_as_entered_by_the_secretary(
    app: App, chat: Chat, clock: FakeClock, tmp_path: Path
) -> None:
    # A second 王党员 in 机关, on the roster from the start.
    await add_people(app, tmp_path, clock, "王党员,县教育局机关党支部,党员,成员,13800000033,\n")
    await app.reminders.tick()
    assert await chat.text("li", "补签 孙预备 1") == (
        "主题党日 #1（12月4日(周五) 15:00） 还没有开始，只能为已开始的活动补录。"
    )
    clock.set(at("2026-12-04 17:00"))
    li = await member_id(app, "李书记")
    THEME = "主题党日 #1（12月4日(周五) 15:00）"
    cases = [
        ("li", "补签 王党员 1", "本支部有 2 位“王党员”（手机尾号 0003、0033），"
         "请在姓名后加手机后四位，如：补签 王党员0003 1"),
        ("li", "补签 王党员0003 1", f"✅ 已补签：王党员 · {THEME}\n记为出席。"),
        ("li", "补签 王党员0003 1", f"王党员已签到（出席）：{THEME}"),
        ("li", "补假 王党员0003 1 有事", f"王党员已签到（出席），无需补假：{THEME}"),
        ("li", "补假 孙预备 1 生病", f"✅ 已补假：孙预备 · {THEME}\n原因：生病"),
        ("li", "补签 孙预备 1", f"✅ 已补签：孙预备 · {THEME}\n记为出席（原请假已改为出席）。"),
        ("li", "补假 钱群众 1 有事", "钱群众不在主题党日的应到人员之列，无需补录。"),
        ("li", "补假 孙预备 2 有事",
         "支委会 #2（12月8日(周二) 16:00） 还没有开始，只能为已开始的活动补录。"),
        ("li", "补签 张三 1", "本支部没有叫“张三”的同志。"),
        ("li", "补签 刘老师 1", "本支部没有叫“刘老师”的同志。"),
        ("li", "补假 周管理 1", "请写明请假原因。\n用法：补假 姓名 编号 原因"),
        ("li", "补签 周管理", "请写姓名和活动编号。\n用法：补签 姓名 编号"),
        ("wang", "补签 周管理 1", "「补签」仅限支部书记和管理员使用。"),
    ]
    for sender, message, expected in cases:
        assert await chat.text(sender, message) == expected, message
    assert await attendance(app) == [
        ("王党员", 1, "出席", "", li),
        ("孙预备", 1, "出席", "", li),
    ]


# ---- 请假 for a named meeting ------------------------------------------------------------


async def test_leave_names_the_meeting_or_asks_which_when_two_fall_on_one_day(
    app: App, chat: Chat, clock: FakeClock
) -> None:
    await add_event(app, BUREAU, "党课", "2026-12-16 14:00")  # #1
    await add_event(app, BUREAU, "党小组会", "2026-12-16 16:00", "第二党小组")  # #2
    await add_event(app, BUREAU, "党小组会", "2026-12-16 16:00", "第一党小组")  # #3
    await add_event(app, BUREAU, "支委会", "2026-12-10 16:00")  # #4
    # 王党员 is on the committee: his next meeting is the 支委会.
    assert await chat.text("wang", "请假 有事") == (
        "✅ 已登记请假：支委会 12月10日(周四) 16:00（#4）\n原因：有事"
    )
    # 孙预备 is not: her next day has two meetings for her (not 第一党小组's).
    assert await chat.text("sun", "请假 家中有事") == (
        "12月16日(周三) 有 2 场活动，请写明为哪一场请假：\n"
        "· #1 14:00 党课\n· #2 16:00 党小组会（第二党小组）\n例如：请假 1 家中有事"
    )
    assert await chat.text("sun", "请假 2 家中有事") == (
        "✅ 已登记请假：党小组会（第二党小组） 12月16日(周三) 16:00（#2）\n原因：家中有事"
    )
    assert await chat.text("sun", "请假 3 有事") == (
        "您不在党小组会（第一党小组）的应到人员之列，无需请假。"
    )
    assert await chat.text("sun", "请假 4 有事") == "您不在支委会的应到人员之列，无需请假。"
    clock.set(at("2026-12-16 15:30"))
    assert await chat.text("sun", "请假 1 有事") == (
        "党课 #1（12月16日(周三) 14:00） 已结束；如需补假，请联系支部书记。"
    )
    assert await attendance(app) == [
        ("王党员", 4, "请假", "有事", None),
        ("孙预备", 2, "请假", "家中有事", None),
    ]


# ---- 签到 with several meetings open -------------------------------------------------------


async def test_sign_in_goes_to_the_meeting_the_member_is_expected_at(
    app: App, chat: Chat, clock: FakeClock, tmp_path: Path
) -> None:
    await add_people(app, tmp_path, clock, "胡群众,县第一中学党支部,群众,成员,13900000016,hu\n")
    await add_event(app, BUREAU, "支委会", "2026-12-16 15:00")  # #1
    await add_event(app, BUREAU, "党小组会", "2026-12-16 16:00", "第二党小组")  # #2
    await add_event(app, BUREAU, "党小组会", "2026-12-16 16:00", "第一党小组")  # #3
    await add_event(app, SCHOOL, "主题党日", "2026-12-16 15:00")
    clock.set(at("2026-12-16 15:50"))
    # 孙预备 is not on the committee: she came for her 党小组's 16:00 meeting.
    assert await chat.text("sun", "签到") == (
        "✅ 签到成功：党小组会（第二党小组）（12月16日(周三) 16:00）\n记为出席。"
    )
    # 王党员 is expected at both open meetings: he says which.
    assert await chat.text("wang", "签到") == (
        "现在有 2 场活动在签到，请发「签到 编号」：\n"
        "· #1 15:00 支委会\n· #2 16:00 党小组会（第二党小组）"
    )
    assert await chat.text("wang", "签到 2") == (
        "✅ 签到成功：党小组会（第二党小组）（12月16日(周三) 16:00）\n记为出席。"
    )
    assert await chat.text("wang", "签到 #1") == (
        "⚠️ 已签到：支委会（12月16日(周三) 15:00）\n迟到 50 分钟，记为迟到。"
    )
    assert await chat.text("wang", "签到 3") == (
        "您不在党小组会（第一党小组）的应到人员之列，无需签到。"
    )
    assert await chat.text("wang", "签到 9") == (
        "编号 9 的活动现在不在签到时间，发送「日程」查看编号和时间。"
    )
    assert await chat.text("wang", "签到 甲") == "编号应是数字：甲\n用法：签到 [编号]"
    # 群众 are never expected: told so, not "no meeting", with or without daily check-in.
    assert await chat.text("qian", "签到") == "支委会是党员的组织生活，您无需签到。"
    assert await chat.text("hu", "签到", chat="wr-school") == (
        "主题党日是党员的组织生活，您无需签到。"
    )
    assert await attendance(app) == [
        ("孙预备", 2, "出席", "", None),
        ("王党员", 2, "出席", "", None),
        ("王党员", 1, "迟到", "", None),
    ]


async def test_member_not_expected_checks_in_for_the_day_where_the_branch_has_it(
    app: App, chat: Chat
) -> None:
    await add_event(app, BUREAU, "支委会", "2026-12-01 08:30")
    # 孙预备 is not on the committee; 机关 has the daily check-in, open at 08:10.
    assert await chat.text("sun", "签到") == "✅ 上班签到成功 08:10，按时。"
    assert await attendance(app) == []


# ---- who is expected: planner, absentee lists, 连续缺席 ------------------------------------


async def test_committee_and_party_group_meetings_expect_their_own_members(
    app: App, chat: Chat, clock: FakeClock, tmp_path: Path
) -> None:
    sent = recorder(app)
    await app.reminders.tick()
    assert [m for m in await meetings(app, BUREAU) if m[3].startswith("12")] == [
        (1, "主题党日", "", "12-04 15:00", False),
        (2, "支委会", "", "12-08 16:00", False),
        (3, "党小组会", "第一党小组", "12-16 16:00", False),
        (4, "党小组会", "第二党小组", "12-16 16:00", False),
    ]
    # 一中 has no 党小组: one 党小组会 for all; and no 支委 on its roster: no 支委会. Groups
    # added later change nothing already planned (a whole-branch 党小组会 stands for its
    # month).
    assert [m[1] for m in await meetings(app, SCHOOL) if m[3].startswith("12")] == [
        "主题党日", "党小组会"
    ]
    path = tmp_path / "groups.csv"
    path.write_text("姓名,支部,身份,手机,党小组\n刘老师,县第一中学党支部,党员,13900000012,一组\n")
    await import_roster(app.db, path, clock.now())
    await app.reminders.tick()
    school = [m for m in await meetings(app, SCHOOL) if m[1] == "党小组会"]
    assert [m[2] for m in school] == ["", ""]  # December and January, as planned before

    clock.set(at("2026-12-08 17:00"))
    await app.reminders.tick()
    assert sent.to("li") == [
        "📋 支委会签到结束\n县教育局机关党支部 · 12月8日(周二) 16:00\n"
        "应到 2 人，未签到 2 人：\n李书记、王党员\n无人请假。\n"
        "请了解缺席原因，做好谈心提醒（发送“谈心 情况”查看）。"
    ]
    assert sent.to("chen") == []
    clock.set(at("2026-12-16 15:40"))
    await chat.text("zhou", "签到")  # 第一党小组's
    clock.set(at("2026-12-16 17:00"))
    await app.reminders.tick()
    lists = sorted(sent.to("li")[1:])
    assert len(lists) == 2
    assert "党小组会（第一党小组）签到结束" in lists[0]
    assert "应到 2 人，未签到 1 人：\n李书记\n" in lists[0]
    assert "党小组会（第二党小组）签到结束" in lists[1]
    assert "应到 2 人，未签到 2 人：\n王党员、孙预备\n" in lists[1]


async def test_long_absence_counts_only_meetings_the_member_was_expected_at(
    app: App, clock: FakeClock
) -> None:
    bureau = await branch_id(app, BUREAU)
    async with app.db.write() as s:
        for m in (await s.exec(select(Member))).all():
            m.created_at = at("2026-06-01 09:00")  # on the roster for months
            s.add(m)
        committee = await events.create_event(s, bureau, "支委会", at("2026-11-10 16:00"))
        group_at = at("2026-11-17 16:00")
        await events.create_event(s, bureau, "党小组会", group_at, party_group="第一党小组")
        cancelled = await events.create_event(s, bureau, "党课", at("2026-11-20 15:00"))
        await events.cancel_event(s, cancelled, at("2026-11-19 09:00"), "")
        assert committee.id is not None
        await events.set_attendance(
            s, committee.id, await member_id(app, "王党员"), "出席", at("2026-11-10 16:00")
        )
    async with app.db.read() as s:
        branch = await members.branch_by_id(s, bureau)
        assert branch is not None
        november = parse_period("2026-11", date(2026, 12, 1))
        gone = await long_absent(s, app.services, branch, november, at("2026-12-01 09:00"))
    # 孙预备 was expected at none of them (not on the committee, in 第二党小组); the
    # cancelled 党课 expected nobody.
    assert gone == ["周管理", "李书记"]


async def test_no_meeting_is_created_twice_in_its_period_after_a_move(
    app: App, chat: Chat, clock: FakeClock
) -> None:
    await app.reminders.tick()
    # #2 支委会 moved into January, where the rules had planned #6: January keeps one
    # planned by hand (#6 stays; 改期 does not merge) and December gets none back.
    assert (await chat.text("li", "改期 2 2027-01-05 16:00")).startswith("✅ 已改期")
    clock.set(at("2026-12-20 09:00"))
    await app.reminders.tick()
    kinds = [(m[1], m[3][:2]) for m in await meetings(app, BUREAU) if m[1] == "支委会"]
    assert kinds == [("支委会", "01"), ("支委会", "01")]
    assert len(await meetings(app, BUREAU)) == 9


async def test_calendar_lists_the_meetings_the_planner_makes(app: App, clock: FakeClock) -> None:
    """`qingfeng calendar` and the planner agree: a 党小组会 per 党小组, 支委会 only where
    the roster names a committee (the test roster: 机关 has both, 一中 neither)."""
    from schedules.occurrences import branch_shapes
    from schedules.rules import plan_year

    async with app.db.read() as s:
        by_id = await branch_shapes(s)
        names = {b.id: b.name for b in await members.all_branches(s)}
    shapes = {names[b]: shape for b, shape in by_id.items()}
    planned = plan_year(app.settings, app.calendar, 2027, [BUREAU, SCHOOL], shapes)
    march = {(p.branch, p.label) for p in planned if p.due.month == 3 and "预告" in p.label}
    assert {label for branch, label in march if branch == BUREAU} == {
        "主题党日预告",
        "支委会预告",
        "党小组会（第一党小组）预告",
        "党小组会（第二党小组）预告",
    }
    school = {label for branch, label in march if branch == SCHOOL}
    assert school == {"主题党日预告", "党小组会预告"}
