"""纪要 编号 议题；内容 and the pictures sent after it; the 台账 workbook; the reminder about a
meeting left without a record for 7 days."""

from __future__ import annotations

import io
import re

import pytest
from aiohttp.test_utils import TestClient, TestServer
from openpyxl import load_workbook
from sqlmodel import select

from storage.models import MeetingNote
from tests.conftest import at
from tests.test_schedules_reminders import recorder


async def _notes(app) -> list[MeetingNote]:
    async with app.db.read() as s:
        return list((await s.exec(select(MeetingNote).order_by(MeetingNote.id))).all())


async def _arrange(chat, clock, what: str, sender: str = "li", **kw) -> int:
    """安排 a meeting at 09:00 on 2026-12-01 (before its time) and return its number."""
    clock.set(at("2026-12-01 09:00"))
    reply = await chat.text(sender, f"安排 {what}", **kw)
    m = re.search(r"#(\d+)", reply)
    assert m, reply
    return int(m[1])


@pytest.fixture
async def held(chat, clock) -> int:
    """机关's 党员大会 on 12月3日 15:00: 李书记 on time, 王党员 late, 孙预备 on leave."""
    number = await _arrange(chat, clock, "党员大会 2026-12-03 15:00 三楼会议室")
    await chat.text("sun", f"请假 {number} 外出培训")
    clock.set(at("2026-12-03 14:50"))
    assert "签到" in await chat.text("li", "签到")
    clock.set(at("2026-12-03 15:20"))
    await chat.text("wang", "签到")
    clock.set(at("2026-12-03 17:00"))
    return number


# ---- 纪要 -----------------------------------------------------------------------------


async def test_minutes_appended_twice_and_shown(app, chat, held) -> None:
    reply = await chat.text("li", f"纪要 {held} 学习贯彻全会精神；传达了全会精神，大家交流发言")
    assert reply.startswith("✅ 已记入纪要：党员大会 #")
    assert "议题：学习贯彻全会精神" in reply and "已有纪要 1 条" in reply
    reply = await chat.text("li", f"纪要 {held} 王党员谈了学习体会")
    assert "已有纪要 2 条" in reply and "议题" not in reply
    notes = await _notes(app)
    assert [(n.topic, n.body) for n in notes] == [
        ("学习贯彻全会精神", "传达了全会精神，大家交流发言"),
        ("", "王党员谈了学习体会"),
    ]
    shown = await chat.text("li", f"纪要 {held}")
    assert "纪要 2 条" in shown and "议题：学习贯彻全会精神" in shown
    assert "1. 传达了全会精神，大家交流发言（李书记" in shown
    assert "2. 王党员谈了学习体会（李书记" in shown


async def test_half_width_semicolon_and_admin_in_the_branch_group(app, chat, held) -> None:
    reply = await chat.text("zhou", f"纪要 #{held} 组织生活;发言热烈")
    assert "议题：组织生活" in reply
    (note,) = await _notes(app)
    assert (note.topic, note.body) == ("组织生活", "发言热烈")


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("99 议题；内容", "本支部没有编号为 99 的活动，发送「日程」查看编号。"),
        ("{n} 议题；", "请在议题后写纪要内容，如：纪要 {n} 议题；内容"),
        ("{n} " + "长" * 1001, "纪要内容请控制在 1000 字以内。"),
        ("{n} " + "题" * 101 + "；内容", "议题请控制在 100 字以内。"),
    ],
)
async def test_refusals_write_nothing(app, chat, held, words, expected) -> None:
    reply = await chat.text("li", "纪要 " + words.format(n=held))
    assert reply == expected.format(n=held)
    assert await _notes(app) == []


async def test_a_meeting_not_yet_started_or_cancelled_is_refused(app, chat, clock) -> None:
    number = await _arrange(chat, clock, "党课 2026-12-10 15:00")
    reply = await chat.text("li", f"纪要 {number} 议题；内容")
    assert reply.endswith("还没有开始，会后再记纪要。") and "\n" not in reply
    await chat.text("li", f"取消 {number} 改期另定")
    reply = await chat.text("li", f"纪要 {number} 议题；内容")
    assert reply.endswith("已取消，不能记纪要。") and "\n" not in reply
    assert await _notes(app) == []


async def test_a_member_and_another_branch_are_refused(app, chat, held) -> None:
    assert "仅限" in await chat.text("wang", f"纪要 {held} 议题；内容")
    # 陈书记 of 一中: number `held` is not a meeting of her branch (or not this one).
    reply = await chat.text("chen", f"纪要 {held} 议题；内容", chat="wr-school")
    assert "本支部没有编号" in reply
    assert await _notes(app) == []


async def test_nothing_yet_is_said_so(chat, held) -> None:
    reply = await chat.text("li", f"纪要 {held}")
    assert reply.endswith(f"还没有纪要。发送「纪要 {held} 议题；内容」记录。")


# ---- 台账 -----------------------------------------------------------------------------


@pytest.fixture
async def client(app):
    async with TestClient(TestServer(app.web_app())) as c:
        yield c


async def _workbook(client, reply: str):
    url = reply.splitlines()[-1]
    assert url.startswith("http://127.0.0.1:8080/exports/2."), reply
    resp = await client.get(url.removeprefix("http://127.0.0.1:8080"))
    assert resp.status == 200
    assert "%E5%8F%B0%E8%B4%A6" in resp.headers["Content-Disposition"]  # 台账
    return load_workbook(io.BytesIO(await resp.read()))


async def test_ledger_holds_each_meeting_with_its_names_and_record(
    app, chat, clock, held, client
) -> None:
    await chat.text("li", f"纪要 {held} 学习贯彻全会精神；传达全会精神")
    await chat.text("li", f"纪要 {held} 大家交流发言")
    lecture = await _arrange(chat, clock, "党课 2026-12-04 15:00 报告厅")
    await _arrange(chat, clock, "主题党日 2026-12-20 15:00")  # not held yet: not in the book
    cancelled = await _arrange(chat, clock, "支委会 2026-12-02 15:00")
    await chat.text("li", f"取消 {cancelled}")
    clock.set(at("2026-12-10 09:00"))
    reply = await chat.text("li", "台账")
    assert reply.startswith("📒 县教育局机关党支部 · 台账 · 本年（2026-01-01 ~ 2026-12-31）")
    assert "会议 2 次，其中 1 次还没有纪要。" in reply
    wb = await _workbook(client, reply)
    assert wb.sheetnames == ["党员大会", "党课"]
    ws = wb["党员大会"]
    head = [c.value for c in ws[1]]
    assert head[:7] == ["日期", "时间", "地点", "支部", "类型", "编号", "议题"]
    row = dict(zip(head, (c.value for c in ws[2]), strict=True))
    assert ws.max_row == 2
    assert row["时间"] == "15:00" and row["地点"] == "三楼会议室" and row["编号"] == held
    assert row["日期"].date().isoformat() == "2026-12-03"
    assert row["议题"] == "学习贯彻全会精神"
    assert row["应到"] == "4 人：周管理、李书记、王党员、孙预备"
    assert row["出席"] == "李书记" and row["迟到"] == "王党员"
    assert row["请假"] == "孙预备（外出培训）" and row["缺席"] == "周管理"
    assert row["记录"] == "传达全会精神（李书记）\n大家交流发言（李书记）"
    assert ws.page_setup.orientation == "landscape" and ws.print_title_rows == "$1:$1"
    lecture_row = [c.value for c in wb["党课"][2]]
    assert lecture_row[5] == lecture and lecture_row[12] in ("", None)


async def test_ledger_link_cannot_be_turned_into_another_workbook(app, chat, held, client):
    reply = await chat.text("li", "台账")
    path = reply.splitlines()[-1].removeprefix("http://127.0.0.1:8080")
    forged = path.replace("/exports/2.", "/exports/1.")
    assert (await client.get(forged)).status == 403


async def test_ledger_of_a_named_period_and_an_empty_one(app, chat, held, client) -> None:
    reply = await chat.text("li", "台账 2026-11")
    assert "会议 0 次。" in reply
    wb = await _workbook(client, reply)
    assert wb.sheetnames == ["台账"]
    reply = await chat.text("li", "台账 本年 县第一中学党支部")
    assert reply == "您只能查看本支部（县教育局机关党支部）的数据。"


# ---- the reminder after 7 days ---------------------------------------------------------


def _minutes_notes(sent, number: int | None = None) -> list[str]:
    """The notes 李书记 got (about meeting `number` only, when given)."""
    texts = [t for t in sent.to("li") if "还没有会议纪要" in t]
    return [t for t in texts if number is None or f"#{number}（" in t]


async def test_a_meeting_without_a_record_is_mentioned_once_after_7_days(
    app, chat, clock, held
) -> None:
    sent = recorder(app)
    for day in ("2026-12-04 09:00", "2026-12-10 09:00"):  # not yet: within 7 days
        clock.set(at(day))
        await app.reminders.tick()
    assert _minutes_notes(sent) == []
    clock.set(at("2026-12-11 09:00"))  # Friday, the 8th day after Thursday's meeting
    await app.reminders.tick()
    [note] = _minutes_notes(sent, held)
    head = f"📝 党员大会 #{held}（12月3日(周四) 15:00）已过去 7 天，还没有会议纪要。"
    assert note.startswith(head)
    assert f"纪要 {held} 议题；内容" in note and f"取消 {held}" in note
    for day in ("2026-12-11 10:00", "2026-12-14 09:00"):
        clock.set(at(day))
        await app.reminders.tick()
    assert len(_minutes_notes(sent, held)) == 1  # once only
    # 一中's secretary hears of her own branch's meetings only.
    assert [t for t in sent.to("chen") if "党员大会" in t] == []


async def test_no_mention_when_a_record_was_added_meanwhile(app, chat, clock, held) -> None:
    sent = recorder(app)
    clock.set(at("2026-12-10 09:00"))
    await app.reminders.tick()  # the row is written ahead of time...
    await chat.text("li", f"纪要 {held} 学习；传达精神")
    clock.set(at("2026-12-11 09:00"))
    await app.reminders.tick()  # ...and rendered to nothing when it falls due
    assert _minutes_notes(sent, held) == []


async def test_an_old_meeting_is_never_mentioned(app, chat, clock) -> None:
    sent = recorder(app)
    number = await _arrange(chat, clock, "党课 2026-12-02 15:00")
    # The bot was down (or upgraded) for over a month: the note's day long passed.
    clock.set(at("2027-01-20 09:00"))
    await app.reminders.tick()
    assert [t for t in sent.to("li") if f"#{number}" in t] == []
