"""未绑定 in chat: secretaries for their branch, admins for the group's branch or the county."""

from __future__ import annotations

from storage import branches
from tests.conftest import BUREAU, SCHOOL


async def test_secretary_sees_who_in_the_branch_has_not_bound(chat) -> None:
    reply = await chat.text("chen", "未绑定", chat="wr-school")
    assert f"{SCHOOL}未绑定企业微信或钉钉账号的：1 人" in reply
    assert "新同志" in reply and "刘老师" not in reply
    assert "绑定 姓名 手机后四位" in reply


async def test_everyone_bound_says_so(chat) -> None:
    reply = await chat.text("li", "未绑定")
    assert reply == f"👍 {BUREAU}的同志都已绑定企业微信或钉钉账号。"


async def test_left_and_unbound_people(app, chat) -> None:
    async with app.db.write() as s:
        await branches.unbind(s, "13800000003", "wecom")
        await branches.leave(s, "13800000005")  # 孙预备 left: no longer expected
    reply = await chat.text("li", "未绑定")
    assert "王党员" in reply and "孙预备" not in reply and "1 人" in reply


async def test_secretary_cannot_look_at_another_branch(chat) -> None:
    reply = await chat.text("li", f"未绑定 {SCHOOL}")
    assert reply == f"您只能查看本支部（{BUREAU}）的数据。"


async def test_admin_gets_the_groups_branch_or_the_county(chat) -> None:
    reply = await chat.text("zhou", "未绑定", chat="wr-school")
    assert f"{SCHOOL}未绑定" in reply and "新同志" in reply
    reply = await chat.text("zhou", "未绑定", direct=True)
    assert "全县未绑定企业微信或钉钉账号的：1 人" in reply and SCHOOL in reply


async def test_members_may_not_ask(chat) -> None:
    reply = await chat.text("wang", "未绑定")
    assert "新同志" not in reply and "支部书记" in reply
