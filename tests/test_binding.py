"""绑定 and 绑定本群."""

from __future__ import annotations

from sqlmodel import select

from storage.models import Account, Group
from tests.conftest import branch_id


async def accounts(app, platform: str) -> dict[str, int]:
    async with app.db.read() as s:
        rows = (await s.exec(select(Account).where(Account.platform == platform))).all()
    return {a.external_id: a.member_id for a in rows}


async def test_bind_links_the_account_then_commands_work(app, chat):
    reply = await chat.text("u-new", "绑定 新同志 0019", chat="wr-school")
    assert reply == "✅ 绑定成功：新同志\n县第一中学党支部 · 党员\n发送「帮助」查看可用命令。"
    assert "u-new" in await accounts(app, "wecom")
    assert "学习任务" in await chat.text("u-new", "帮助", chat="wr-school")


async def test_bind_with_wrong_digits_is_refused(app, chat):
    reply = await chat.text("u-new", "绑定 新同志 1111")
    assert reply == "没有找到姓名和手机后四位都匹配的人员，请核对后再试，或联系支部书记。"
    assert "u-new" not in await accounts(app, "wecom")


async def test_bind_malformed_shows_usage(chat):
    assert await chat.text("u-new", "绑定 新同志") == (
        "请写姓名和手机号后四位。\n用法：绑定 姓名 手机后四位"
    )


async def test_bound_sender_cannot_bind_again(chat):
    reply = await chat.text("wang", "绑定 新同志 0019")
    assert reply == "您已绑定为 王党员（县教育局机关党支部），如需更换请联系管理员。"


async def test_member_with_an_account_cannot_be_taken_by_another(app, chat):
    reply = await chat.text("impostor", "绑定 王党员 0003")
    assert reply == "王党员 已绑定了另一个企业微信账号，如需更换请联系管理员。"
    assert (await accounts(app, "wecom"))["wang"] != 0
    assert "impostor" not in await accounts(app, "wecom")


async def test_bind_on_another_platform_is_separate(app, chat):
    reply = await chat.text("wang-dt", "绑定 王党员 0003", platform="dingtalk")
    assert reply.startswith("✅ 绑定成功：王党员")
    assert "wang-dt" in await accounts(app, "dingtalk")


async def test_secretary_binds_a_group_to_own_branch(app, chat):
    reply = await chat.text("chen", "绑定本群 县第一中学党支部", chat="wr-new")
    assert reply == "✅ 本群已绑定到「县第一中学党支部」，今后本支部的提醒会发到这里。"
    async with app.db.read() as s:
        group = (await s.exec(select(Group).where(Group.chat_id == "wr-new"))).one()
    assert group.branch_id == await branch_id(app, "县第一中学党支部")


async def test_secretary_cannot_bind_a_group_to_another_branch(app, chat):
    reply = await chat.text("chen", "绑定本群 县教育局机关党支部", chat="wr-new")
    assert reply == "您只能把群绑定到本支部（县第一中学党支部）。"
    async with app.db.read() as s:
        assert (await s.exec(select(Group).where(Group.chat_id == "wr-new"))).first() is None


async def test_admin_binds_any_branch_and_unknown_branch_is_refused(app, chat):
    reply = await chat.text("zhou", "绑定本群 县第一中学党支部", chat="wr-x")
    assert reply.startswith("✅ 本群已绑定到「县第一中学党支部」")
    reply = await chat.text("zhou", "绑定本群 不存在支部", chat="wr-y")
    assert reply == "没有名为「不存在支部」的支部，请核对名称（须与花名册一致）。"


async def test_bind_group_in_direct_chat_is_refused(chat):
    reply = await chat.text("zhou", "绑定本群 县第一中学党支部", direct=True)
    assert reply == "请在要绑定的群里发送这条命令。"


async def test_guessing_the_digits_is_stopped_after_five_misses(app, chat, clock):
    for digits in ("1111", "2222", "3333", "4444", "5555"):
        assert (await chat.text("u-guess", f"绑定 新同志 {digits}")).startswith("没有找到")
    # The sixth try is refused even with the right digits, and binds nothing.
    assert await chat.text("u-guess", "绑定 新同志 0019") == (
        "今天核对失败次数过多，请明天再试，或请支部书记帮您绑定。"
    )
    assert "u-guess" not in await accounts(app, "wecom")
    # Another sender is not affected, and the next day the limit is lifted.
    assert (await chat.text("u-other", "绑定 新同志 0019")).startswith("✅ 绑定成功")
    from datetime import timedelta

    clock.advance(timedelta(days=1, minutes=1))
    assert (await chat.text("u-guess", "绑定 王党员 0003")).startswith("王党员 已绑定了")
