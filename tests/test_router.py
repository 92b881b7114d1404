"""The router: @mentions, aliases, unknown words, binding and role refusals, 帮助."""

from __future__ import annotations

from sqlmodel import select

from bot.router import normalize, split_command
from storage.models import CheckIn, Event


def test_normalize_strips_mentions_odd_spaces_and_slash():
    assert normalize("@清风\u2005签到") == "签到"
    assert normalize("＠清风　/学习  3 ") == "学习 3"
    assert normalize("/我的 上月") == "我的 上月"
    assert split_command("@清风 请假  外出 培训") == ("请假", "外出 培训")


async def test_aliases_reach_the_same_command(chat):
    assert (await chat.text("wang", "/打卡")).startswith("✅ 上班签到成功")
    assert (await chat.text("wang", "上班签到")) == "您今天已经上班签到过了（08:10）。"


async def test_unknown_word_gets_a_hint_toward_help(chat):
    assert await chat.text("wang", "吃饭了吗") == "没听懂“吃饭了吗”。发送「帮助」查看可用命令。"


async def test_bare_mention_gets_a_hint(chat):
    assert await chat.text("wang", "") == "我在。发送「帮助」查看可用命令。"


async def test_unbound_sender_is_told_how_to_bind_and_nothing_is_written(app, chat):
    reply = await chat.text("stranger", "签到")
    assert reply == "您还没有绑定身份。请发送：绑定 姓名 手机后四位（例如：绑定 张三 1234）"
    async with app.db.read() as s:
        assert (await s.exec(select(CheckIn))).all() == []


async def test_unbound_help_explains_binding(chat):
    reply = await chat.text("stranger", "帮助")
    assert "绑定 姓名 手机后四位" in reply
    assert "签到" not in reply


async def test_member_help_lists_member_commands_only(chat):
    reply = await chat.text("wang", "help")
    words = ("签到", "签退", "学习 [编号]", "学习任务", "请假 [编号] 原因", "日程", "我的 [期间]")
    for word in words:
        assert word in reply
    assert "安排 类型" not in reply and "绑定本群" not in reply


async def test_secretary_help_adds_secretary_commands(chat):
    reply = await chat.text("li", "菜单")
    assert "安排 类型 YYYY-MM-DD HH:MM [地点]" in reply
    assert "绑定本群 支部名" in reply


async def test_member_refused_secretary_commands_in_one_line(app, chat):
    reply = await chat.text("wang", "安排 党课 2026-12-20 15:00")
    assert reply == "「安排」仅限支部书记和管理员使用。"
    assert await chat.text("wang", "绑定本群 县教育局机关党支部") == (
        "「绑定本群」仅限支部书记和管理员使用。"
    )
    async with app.db.read() as s:
        assert (await s.exec(select(Event))).all() == []


async def test_bad_arguments_show_usage(chat):
    reply = await chat.text("wang", "学习 abc")
    assert reply == "编号应是数字：abc\n用法：学习 [编号]"
