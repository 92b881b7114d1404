"""Odd command arguments get the command's usage line, never the generic apology.

Each refusal is exact: the reason, then "用法：…" as 帮助 lists it; and the refused
command wrote no row (only the message id and its reply are recorded, as for any message).
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import func, select

from bot.app import App
from handlers.periods import PERIOD_HELP
from storage.models import (
    Account,
    AppSecret,
    Attendance,
    CheckIn,
    Event,
    Group,
    Member,
    Outbox,
    StudyConfirmation,
    StudyTask,
)
from tests.conftest import Chat

# Every table a command could write to, apart from the inbound message record itself.
WRITTEN = (
    Account,
    AppSecret,
    Attendance,
    CheckIn,
    Event,
    Group,
    Member,
    Outbox,
    StudyConfirmation,
    StudyTask,
)
YEARS = "年份应在 2000–2099 之间"


async def row_counts(app: App) -> dict[str, int]:
    async with app.db.read() as s:
        return {
            m.__tablename__: (await s.exec(select(func.count()).select_from(m))).one()
            for m in WRITTEN
        }


async def refused(app: App, chat: Chat, sender: str, command: str, **kw: Any) -> str:
    """The reply to `command`, which must have written nothing."""
    before = await row_counts(app)
    reply = await chat.text(sender, command, **kw)
    assert await row_counts(app) == before, reply
    return reply


@pytest.fixture
async def task(chat: Chat) -> None:
    """One study task for the bureau, so 学习 and 催学 would have something to write."""
    assert "已发布" in await chat.text("li", "发布学习 二十大报告")


# --- the examples from the issue ----------------------------------------------------------
@pytest.mark.usefixtures("task")
async def test_study_with_a_superscript_number(app, chat):
    assert await refused(app, chat, "wang", "学习 ¹") == "编号应是数字：¹\n用法：学习 [编号]"


@pytest.mark.usefixtures("task")
@pytest.mark.parametrize("word", ["未学习", "催学"])
async def test_secretary_study_commands_with_a_superscript_number(app, chat, word):
    reply = await refused(app, chat, "li", f"{word} ¹")
    assert reply == f"编号应是数字：¹\n用法：{word} [编号]"


async def test_my_record_for_year_zero(app, chat):
    reply = await refused(app, chat, "wang", "我的 0000-01")
    assert reply == f"{YEARS}：0000-01\n用法：我的 [期间]"


@pytest.mark.parametrize("sender", ["li", "zhou"])  # a secretary and the admin
@pytest.mark.parametrize("word", ["汇总", "导出"])
async def test_summary_and_export_for_year_zero(app, chat, sender, word):
    reply = await refused(app, chat, sender, f"{word} 0000-01")
    assert reply == f"{YEARS}：0000-01\n用法：{word} [期间]"


async def test_my_record_for_the_last_month_a_date_can_hold(app, chat):
    reply = await refused(app, chat, "wang", "我的 9999-12")
    assert reply == f"{YEARS}：9999-12\n用法：我的 [期间]"


# --- the other argument readers ----------------------------------------------------------
@pytest.mark.parametrize(
    ("sender", "command", "reply"),
    [
        ("wang", "学习 12345678901", "编号太大：12345678901\n用法：学习 [编号]"),
        ("wang", "学习 ١", "编号应是数字：١\n用法：学习 [编号]"),
        ("zhou", "汇总 本月 机关\x01", "支部名称里有无法显示的字符。\n用法：汇总 [期间]"),
        ("li", "汇总 9999-12-31~9999-12-31", f"{YEARS}：9999-12-31\n用法：汇总 [期间]"),
        ("zhou", "汇总 2026-13", "月份不对：2026-13\n用法：汇总 [期间]"),
        ("zhou", "导出 2026-02-30~2026-03-01", "没有这一天：2026-02-30\n用法：导出 [期间]"),
        ("wang", "我的 ²⁰²⁶-01", f"看不懂期间“²⁰²⁶-01”，可用：{PERIOD_HELP}\n用法：我的 [期间]"),
        ("li", "未签到 0000-01-01", f"{YEARS}：0000-01-01\n用法：未签到 [YYYY-MM-DD]"),
        ("li", "缺勤 2026-12-0¹", "日期格式应为 YYYY-MM-DD：2026-12-0¹\n用法：未签到 [YYYY-MM-DD]"),
        (
            "li",
            "安排 党课 9999-12-31 23:59",
            f"{YEARS}：9999-12-31\n用法：安排 类型 YYYY-MM-DD HH:MM [地点]",
        ),
        (
            "li",
            "安排 党课 2026-12-10 1⁶:00",
            "时间格式应为 HH:MM：1⁶:00\n用法：安排 类型 YYYY-MM-DD HH:MM [地点]",
        ),
        (
            "li",
            "安排 党课 2026-12-10 16:00 会议室\x07",
            "地点里有无法显示的字符。\n用法：安排 类型 YYYY-MM-DD HH:MM [地点]",
        ),
        (
            "li",
            "发布学习 标题 截止 9999-12-31",
            f"{YEARS}：9999-12-31\n用法：发布学习 标题 [链接] [截止 YYYY-MM-DD] [全体]",
        ),
        (
            "li",
            "发布学习 标题 截止",
            "截止后请写日期 YYYY-MM-DD。\n用法：发布学习 标题 [链接] [截止 YYYY-MM-DD] [全体]",
        ),
        (
            "li",
            "发布学习 标题 截止2026-12-10 截至2026-12-11",
            "只能写一个截止日期。\n用法：发布学习 标题 [链接] [截止 YYYY-MM-DD] [全体]",
        ),
        (
            "li",
            "发布学习 标题 http://[::1",
            "链接不对：http://[::1\n用法：发布学习 标题 [链接] [截止 YYYY-MM-DD] [全体]",
        ),
        (
            "li",
            "发布学习 标题 https://a.cn/1 https://a.cn/2",
            "只能写一个链接。\n用法：发布学习 标题 [链接] [截止 YYYY-MM-DD] [全体]",
        ),
        ("wang", "请假 家中\x01有事", "原因里有无法显示的字符。\n用法：请假 [编号] 原因"),
        ("nobody", "绑定 新同志 ¹⁹", "请写姓名和手机号后四位。\n用法：绑定 姓名 手机后四位"),
        ("nobody", "绑定 新同志 ٠٠١٩", "请写姓名和手机号后四位。\n用法：绑定 姓名 手机后四位"),
        ("li", "绑定本群 " + "支" * 101, "支部名称请控制在 100 字以内。\n用法：绑定本群 支部名"),
    ],
)
async def test_each_reader_refuses_with_the_usage_line(app, chat, sender, command, reply):
    assert await refused(app, chat, sender, command) == reply


async def test_a_long_refused_argument_is_not_echoed_in_full(app, chat):
    reply = await refused(app, chat, "wang", "学习 " + "x" * 500)
    assert reply == f"编号应是数字：{'x' * 20}…\n用法：学习 [编号]"


async def test_five_thousand_zeros_are_task_number_zero(app, chat):
    # int() alone would refuse a string of more than 4300 digits with a ValueError.
    reply = await refused(app, chat, "wang", "学习 " + "0" * 5000)
    assert reply == "没有编号为 0 的学习任务。发送「学习任务」查看。"


async def test_an_admin_word_that_is_no_date_is_still_a_branch_name(chat):
    # Only digits, '-' and '~' make a word a 期间; anything else is looked up as a branch.
    assert await chat.text("zhou", "汇总 ¹") == "没有叫“¹”的支部。"


# --- full-width digits, as a phone keyboard gives them, are digits ------------------------
@pytest.mark.usefixtures("task")
async def test_full_width_task_number(chat):
    assert (await chat.text("wang", "学习 ＃１")).startswith("✅ 已确认学习 #1")


async def test_full_width_date_and_time(chat):
    reply = await chat.text("li", "安排 党课 ２０２６－１２－１０ １６：００ 会议室")
    assert reply.startswith("✅ 已安排：党课")
    assert "12月10日(周四) 16:00" in reply


async def test_full_width_period_and_day(chat):
    assert (await chat.text("wang", "我的 ２０２６－１１")).startswith("📋 王党员 · 2026年11月")
    assert "12月1日(周二) 未签到" in await chat.text("li", "未签到 ２０２６-１２-０１")


async def test_full_width_phone_digits_bind(chat):
    assert (await chat.text("newcomer", "绑定 新同志 ００１９")).startswith("✅ 绑定成功：新同志")
