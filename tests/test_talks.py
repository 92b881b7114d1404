"""谈心谈话: 谈心 姓名 [要点] by secretaries and the admin, 谈心 情况, and the Q4 monthly push."""

from __future__ import annotations

from sqlmodel import select

from bot.clock import FakeClock
from handlers.roster import import_roster
from schedules.monthly import monthly_summary
from storage import members
from storage.models import Talk
from tests.conftest import BUREAU, ROSTER, SCHOOL, at, branch_id

NOTE = "家中老人住院，工作压力大"


async def _talks(app) -> list[Talk]:
    async with app.db.read() as s:
        return list((await s.exec(select(Talk).order_by(Talk.id))).all())


async def test_secretary_records_a_talk_without_showing_the_note(app, chat) -> None:
    reply = await chat.text("li", f"谈心 王党员 {NOTE}")
    assert reply.startswith("✅ 已记录谈心谈话：李书记 与 王党员 · 2026年12月1日")
    assert NOTE not in reply
    (talk,) = await _talks(app)
    assert talk.note == NOTE and talk.branch_id == await branch_id(app, BUREAU)


async def test_a_talk_without_a_note(app, chat) -> None:
    reply = await chat.text("li", "谈心 孙预备")
    assert reply == "✅ 已记录谈心谈话：李书记 与 孙预备 · 2026年12月1日。"
    (talk,) = await _talks(app)
    assert talk.note == ""


async def test_a_member_is_refused(app, chat) -> None:
    reply = await chat.text("wang", "谈心 孙预备 了解情况")
    assert "支部书记" in reply and "\n" not in reply
    assert await _talks(app) == []


async def test_a_name_in_another_branch_is_refused(app, chat) -> None:
    reply = await chat.text("li", "谈心 刘老师")
    assert reply == "本支部没有叫“刘老师”的同志。"
    assert await _talks(app) == []


async def test_admin_records_in_a_groups_branch_and_by_a_unique_name_directly(app, chat) -> None:
    assert "与 刘老师" in await chat.text("zhou", "谈心 刘老师", chat="wr-school")
    assert "与 新同志" in await chat.text("zhou", "谈心 新同志", direct=True)
    school = await branch_id(app, SCHOOL)
    assert [t.branch_id for t in await _talks(app)] == [school, school]


async def test_note_longer_than_200_is_refused(app, chat) -> None:
    reply = await chat.text("li", "谈心 王党员 " + "长" * 201)
    assert "200 字以内" in reply
    assert await _talks(app) == []


async def test_duplicate_names_ask_for_the_phone_tail(app, chat, tmp_path) -> None:
    extra = tmp_path / "dup.csv"
    extra.write_text(ROSTER + f"王党员,{BUREAU},党员,成员,13700000033,wang2,,,\n", encoding="utf-8")
    await import_roster(app.db, extra, chat.clock.now())
    reply = await chat.text("li", "谈心 王党员 谈工作")
    assert "2 位“王党员”" in reply and "0003、0033" in reply and "谈心 王党员0003" in reply
    assert await _talks(app) == []
    assert "与 王党员" in await chat.text("li", "谈心 王党员0033 谈工作")
    (talk,) = await _talks(app)
    async with app.db.read() as s:
        (second,) = [m for m in await members.members_named(s, "王党员") if m.phone[-2:] == "33"]
    assert talk.member_id == second.id


async def test_status_lists_exactly_the_members_not_talked_with_this_year(app, chat, clock) -> None:
    await chat.text("li", "谈心 王党员 去年谈过")
    clock.set(at("2027-01-05 09:00"))
    await chat.text("li", "谈心 孙预备 今年第一次")
    reply = await chat.text("li", "谈心 情况")
    # 党员 and 预备党员, active; 钱群众 (群众) is not expected; 王党员 was last year.
    assert reply.splitlines()[:3] == [
        f"{BUREAU} 2027年尚未谈心谈话的党员：3 人",
        "",
        "周管理、李书记、王党员",
    ]
    assert "今年第一次" not in reply and "去年谈过" not in reply


async def test_status_in_a_direct_chat_shows_the_notes_to_the_secretary(chat) -> None:
    await chat.text("li", f"谈心 王党员 {NOTE}")
    reply = await chat.text("li", "谈心 情况", direct=True)
    assert "周管理、李书记、孙预备" in reply
    assert f"12月1日 王党员：{NOTE}" in reply


async def test_everyone_talked_with(chat) -> None:
    for name in ("刘老师", "新同志", "陈书记"):
        await chat.text("chen", f"谈心 {name}", chat="wr-school")
    reply = await chat.text("chen", "谈心 情况", chat="wr-school")
    assert reply.startswith(f"👍 {SCHOOL} 2026年的党员都已谈心谈话。")


async def test_a_member_never_sees_the_note(app, chat) -> None:
    await chat.text("li", f"谈心 王党员 {NOTE}")
    for text in ("谈心 情况", "我的", "我的 本年", "帮助", "谈心 王党员"):
        for kw in ({}, {"direct": True}):
            assert NOTE not in await chat.text("wang", text, **kw)
    # Nor in the group replies the secretary and admin get.
    assert NOTE not in await chat.text("li", "谈心 情况")
    assert NOTE not in await chat.text("zhou", "谈心 情况")


async def test_q4_monthly_push_mentions_the_talks(app, chat, clock: FakeClock) -> None:
    bureau = await branch_id(app, BUREAU)
    await chat.text("li", "谈心 王党员")

    async def push(month: str) -> str:
        async with app.db.read() as s:
            reply = await monthly_summary(
                s, app.services, app.reminders.templates, bureau, month, clock.now()
            )
        assert reply is not None
        return reply.text

    clock.set(at("2027-01-01 09:00"))
    text = await push("2027-01")
    assert "谈心" not in text  # January is not in the last quarter
    clock.set(at("2027-10-01 09:00"))
    text = await push("2027-10")
    assert "今年还有 4 名党员未谈心谈话" in text and "谈心 情况" in text


async def _talk_sheet(app, clock, branch: int | None, private: bool) -> list[list[object]]:
    import io

    from openpyxl import load_workbook

    from handlers.periods import parse_period
    from handlers.summary import export_workbook

    async with app.db.read() as s:
        body = await export_workbook(
            s, app.services, branch, parse_period("本月", clock.now().date()), clock.now(),
            private=private,
        )  # fmt: skip
    assert body is not None
    ws = load_workbook(io.BytesIO(body))["谈心谈话"]
    return [list(r) for r in ws.iter_rows(values_only=True)]


async def test_the_export_lists_talks_with_notes_only_when_asked_privately(app, chat, clock):
    from datetime import datetime

    await chat.text("li", f"谈心 王党员 {NOTE}")
    clock.set(at("2026-12-03 15:30"))
    await chat.text("li", "谈心 孙预备")
    await chat.text("chen", "谈心 刘老师 谈教学", chat="wr-school")
    bureau = await branch_id(app, BUREAU)
    first, second = datetime(2026, 12, 1, 8, 10), datetime(2026, 12, 3, 15, 30)
    assert await _talk_sheet(app, clock, bureau, private=True) == [
        ["支部", "谈话时间", "谈话人", "谈话对象", "要点"],
        [BUREAU, first, "李书记", "王党员", NOTE],
        [BUREAU, second, "李书记", "孙预备", None],
    ]
    # A workbook whose link was posted in a group: who and when, never the 要点.
    rows = await _talk_sheet(app, clock, None, private=False)
    assert rows[0] == ["支部", "谈话时间", "谈话人", "谈话对象"]
    assert [r[3] for r in rows[1:]] == ["王党员", "孙预备", "刘老师"]  # by branch, then time
    assert NOTE not in str(rows)
