"""民主评议: 评议 姓名 等次 and 评议 情况, who sees a grade (the member, the secretary, the
admin; nobody else), 我的 本年, and the export sheet."""

from __future__ import annotations

import io
from datetime import date, datetime

import pytest
from openpyxl import load_workbook
from sqlmodel import col, select

from bot.app import App
from bot.clock import FakeClock
from handlers import appraisals as appraisal_handlers
from handlers.periods import Period
from handlers.summary import export_workbook
from storage.appraisals import GRADES
from storage.models import Appraisal
from tests.conftest import BUREAU, SCHOOL, at, branch_id, member_id

SHOWN_TO = "仅本人、支部书记和管理员可见"
REFUSED = "评定等次须是：优秀、合格、基本合格、不合格，如：评议 王党员 合格"


async def grades(app: App) -> list[tuple[str, int, str]]:
    """(member's name, year, grade) of every stored grade."""
    from storage.models import Member

    async with app.db.read() as s:
        stmt = (
            select(Member.name, Appraisal.year, Appraisal.grade)
            .join(Member, col(Member.id) == col(Appraisal.member_id))
            .order_by(col(Appraisal.id))
        )
        return [tuple(r) for r in (await s.exec(stmt)).all()]  # type: ignore[misc]


# ---- recording ------------------------------------------------------------------------------


async def test_a_grade_is_entered_in_a_direct_chat_never_in_a_group(app, chat) -> None:
    # In a group everyone reads the command itself: refused, nothing written.
    reply = await chat.text("li", "评议 王党员 优秀")
    assert reply == "评定等次请私聊本机器人录入：群里的消息所有人都能看到。"
    assert await grades(app) == []
    reply = await chat.text("li", "评议 王党员 优秀", direct=True)
    assert reply == f"✅ 已记录 王党员 2026年民主评议等次：优秀（{SHOWN_TO}）。"
    assert await grades(app) == [("王党员", 2026, "优秀")]
    async with app.db.read() as s:
        (row,) = (await s.exec(select(Appraisal))).all()
    assert row.by_member_id == await member_id(app, "李书记")
    assert row.branch_id == await branch_id(app, BUREAU)


async def test_in_a_direct_chat_the_reply_names_the_grade_and_the_change(app, chat) -> None:
    reply = await chat.text("li", "评议 孙预备 合格", direct=True)
    assert reply == f"✅ 已记录 孙预备 2026年民主评议等次：合格（{SHOWN_TO}）。"
    reply = await chat.text("li", "评议 孙预备 优秀", direct=True)
    assert reply == f"✅ 已更新 孙预备 2026年民主评议等次：合格 → 优秀（{SHOWN_TO}）。"
    assert await grades(app) == [("孙预备", 2026, "优秀")]


async def test_early_in_the_year_a_grade_is_for_the_year_before(app, chat, clock) -> None:
    """The window's meeting (January–February) appraises the year that just ended."""
    clock.set(at("2027-02-17 16:00"))
    reply = await chat.text("li", "评议 王党员 优秀", direct=True)
    assert reply == f"✅ 已记录 王党员 2026年民主评议等次：优秀（{SHOWN_TO}）。"
    reply = await chat.text("li", "评议 孙预备 合格 2027年", direct=True)
    assert "孙预备 2027年民主评议等次：合格" in reply
    clock.set(at("2027-03-01 09:00"))  # after the window: this year's
    assert "周管理 2027年" in await chat.text("li", "评议 周管理 合格", direct=True)
    assert await grades(app) == [("王党员", 2026, "优秀"), ("孙预备", 2027, "合格"),
                                 ("周管理", 2027, "合格")]  # fmt: skip
    status = await chat.text("li", "评议 情况 2026", direct=True)
    assert status.startswith(f"{BUREAU} 2026年尚未评定等次的党员：3 人\n\n周管理、李书记、孙预备")
    bad = await chat.text("li", "评议 王党员 优秀 1899", direct=True)
    assert bad.startswith("年度“1899”不对，请写四位年份")  # and the usage line, as ArgError gives
    assert len(await grades(app)) == 3


@pytest.mark.parametrize("grade", ["良好", "", "优秀 合格", "称职"])
async def test_a_bad_grade_is_refused_in_one_line_listing_the_four(app, chat, grade) -> None:
    reply = await chat.text("li", f"评议 王党员 {grade}".strip(), direct=True)
    assert reply == REFUSED
    assert await grades(app) == []


@pytest.mark.parametrize(
    ("who", "text", "where", "expected"),
    [
        ("li", "评议 刘老师 合格", "", "本支部没有叫“刘老师”的同志。"),
        ("li", "评议 刘老师 合格", "wr-school", "您只能评议本支部的党员。"),
        ("li", "评议 钱群众 合格", "", "民主评议只评议党员和预备党员，钱群众是群众。"),
    ],
)
async def test_refusals_write_nothing(app, chat, who, text, where, expected) -> None:
    kw = {"chat": where} if where else {"direct": True}
    assert await chat.text(who, text, **kw) == expected
    assert await grades(app) == []


async def test_a_member_may_not_grade(app, chat) -> None:
    reply = await chat.text("wang", "评议 孙预备 优秀")
    assert "书记" in reply and "\n" not in reply
    assert await grades(app) == []
    assert "书记" in await chat.text("wang", "评议 情况", direct=True)


async def test_admin_grades_anyone_by_a_unique_name_directly(app, chat) -> None:
    assert "私聊" in await chat.text("zhou", "评议 刘老师 优秀", chat="wr-school")
    assert "已记录 刘老师" in await chat.text("zhou", "评议 刘老师 优秀", direct=True)
    assert "已记录 新同志" in await chat.text("zhou", "评议 新同志 合格", direct=True)
    assert await grades(app) == [("刘老师", 2026, "优秀"), ("新同志", 2026, "合格")]


# ---- who sees it -----------------------------------------------------------------------------


async def test_only_the_member_the_secretary_and_the_admin_see_a_grade(app, chat) -> None:
    await chat.text("li", "评议 王党员 优秀", direct=True)
    await chat.text("li", "评议 孙预备 基本合格", direct=True)

    # The member: in a direct chat, their own grade and nobody else's.
    mine = await chat.text("wang", "我的 本年", direct=True)
    assert mine.endswith("\n民主评议：2026年 优秀")
    assert "基本合格" not in mine and "孙预备" not in mine
    theirs = await chat.text("sun", "我的 本年", direct=True)
    assert theirs.endswith("\n民主评议：2026年 基本合格") and "优秀" not in theirs
    # In a group, 我的 only says there is one: the group must not learn it.
    in_group = await chat.text("wang", "我的 本年")
    assert "民主评议：已评定等次，请私聊本机器人" in in_group
    assert not any(g in in_group for g in GRADES)
    # Without a grade, or over a month, no line at all.
    for who, text in (("zhou", "我的 本年"), ("qian", "我的 本年"), ("wang", "我的")):
        assert "民主评议" not in await chat.text(who, text, direct=True)

    # Other members' help and the group replies never carry a grade.
    for who in ("wang", "sun", "qian"):
        help_text = await chat.text(who, "帮助", direct=True)
        assert not any(g in help_text for g in GRADES), who
    status = await chat.text("li", "评议 情况")
    assert status == (
        f"{BUREAU} 2026年尚未评定等次的党员：2 人\n\n周管理、李书记\n\n"
        "评定等次请私聊本机器人发送“评议 情况”查看。"
    )
    # The secretary, in a direct chat: the grades.
    private = await chat.text("li", "评议 情况", direct=True)
    assert private.endswith("已评定 2 人：\n王党员：优秀\n孙预备：基本合格")
    # The admin, in the branch's group (names only) and directly for his own branch.
    assert "王党员：优秀" not in await chat.text("zhou", "评议 情况")
    assert "王党员：优秀" in await chat.text("zhou", "评议 情况", direct=True)
    # Another branch's secretary sees only her own branch.
    other = await chat.text("chen", "评议 情况", direct=True, chat="wr-school")
    assert other.startswith(f"{SCHOOL} 2026年尚未评定等次的党员：3 人\n\n陈书记、刘老师、新同志")
    assert "王党员" not in other


async def test_status_lists_exactly_the_ungraded_of_the_year(app, chat, clock: FakeClock) -> None:
    for name in ("周管理", "李书记", "王党员", "孙预备"):
        await chat.text("li", f"评议 {name} 合格", direct=True)
    assert await chat.text("li", "评议 情况") == (
        f"👍 {BUREAU} 2026年的党员都已评定等次。\n\n评定等次请私聊本机器人发送“评议 情况”查看。"
    )
    clock.set(at("2027-03-17 16:00"))  # past the window: this year, nobody graded yet
    await chat.text("li", "评议 王党员 优秀", direct=True)
    status = await chat.text("li", "评议 情况")
    assert status.startswith(f"{BUREAU} 2027年尚未评定等次的党员：3 人\n\n周管理、李书记、孙预备\n")
    assert ("王党员", 2027, "优秀") in await grades(app) and len(await grades(app)) == 5


# ---- the export -------------------------------------------------------------------------------


async def test_export_sheet_has_the_grades_of_the_years_in_scope(
    app, chat, clock: FakeClock
) -> None:
    clock.set(at("2026-12-01 10:00"))
    await chat.text("li", "评议 王党员 优秀", direct=True)
    clock.set(at("2026-12-02 11:30"))
    await chat.text("chen", "评议 刘老师 合格", direct=True)
    year = Period(date(2026, 1, 1), date(2026, 12, 31), "本年")

    # A workbook asked for in a group: who was graded, never the grade.
    async with app.db.read() as s:
        body = await export_workbook(s, app.services, None, year, clock.now())
    assert body is not None
    rows = [
        tuple(r) for r in load_workbook(io.BytesIO(body))["民主评议"].iter_rows(values_only=True)
    ]
    assert rows == [
        ("年度", "支部", "姓名", "录入人", "录入时间"),
        (2026, BUREAU, "王党员", "李书记", datetime(2026, 12, 1, 10, 0)),
        (2026, SCHOOL, "刘老师", "陈书记", datetime(2026, 12, 2, 11, 30)),
    ]

    # Asked for in a direct chat (the secretary's or admin's): the grade too; by branch.
    school = await branch_id(app, SCHOOL)
    async with app.db.read() as s:
        sheet = await appraisal_handlers.export_sheet(
            s, app.services, [school], year, clock.now(), private=True
        )
        later = await appraisal_handlers.export_sheet(
            s, app.services, None, Period(date(2027, 1, 1), date(2027, 1, 31), "x"), clock.now()
        )
    assert sheet is not None and sheet.title == "民主评议"
    assert list(sheet.headers) == ["年度", "支部", "姓名", "等次", "录入人", "录入时间"]
    assert [list(r) for r in sheet.rows] == [
        [2026, SCHOOL, "刘老师", "合格", "陈书记", datetime(2026, 12, 2, 11, 30)]
    ]
    assert later is None  # no grades in 2027: no sheet


async def test_admin_tells_apart_namesakes_in_two_branches_by_the_phone_tail(
    app, chat, tmp_path
) -> None:
    from handlers.roster import import_roster
    from tests.conftest import ROSTER

    extra = tmp_path / "dup.csv"
    extra.write_text(ROSTER + f"王党员,{SCHOOL},党员,成员,13900000033,,,,\n", encoding="utf-8")
    await import_roster(app.db, extra, chat.clock.now())
    reply = await chat.text("zhou", "评议 王党员 优秀", direct=True)
    assert reply == (
        "全县有 2 位“王党员”（手机尾号 0003、0033），请在姓名后加手机后四位，"
        "如：评议 王党员0003 优秀"
    )
    assert await grades(app) == []
    assert "已记录 王党员" in await chat.text("zhou", "评议 王党员0033 优秀", direct=True)
    async with app.db.read() as s:
        (row,) = (await s.exec(select(Appraisal))).all()
    assert row.branch_id == await branch_id(app, SCHOOL)
