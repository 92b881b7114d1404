"""绑定 (link a platform account to a roster entry) and 绑定本群 (link a group to a branch)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.exc import IntegrityError

from bot.context import Context
from bot.messages import Reply
from bot.router import ArgError, Command
from handlers.args import half_width, is_digits, plain_text
from storage import groups, inbound, members
from storage.models import Role

PLATFORM_NAMES = {"wecom": "企业微信", "dingtalk": "钉钉", "console": "控制台"}
NO_MATCH = "没有找到姓名和手机后四位都匹配的人员"
# Four digits are easy to guess: a sender gets this many misses a day, then must ask a person.
MAX_MISSES_PER_DAY = 5


def parse_bind(rest: str) -> tuple[str, str]:
    parts = rest.split()
    last4 = half_width(parts[1]) if len(parts) == 2 else ""
    if len(last4) != 4 or not is_digits(last4):
        raise ArgError("请写姓名和手机号后四位。")
    # Roster names are at most 50 characters.
    return plain_text(parts[0], "姓名", 50), last4


async def bind(ctx: Context, args: tuple[str, str]) -> Reply:
    name, last4 = args
    platform = PLATFORM_NAMES.get(ctx.msg.platform, ctx.msg.platform)
    if ctx.member is not None:
        branch = ctx.branch.name if ctx.branch else ""
        return Reply(f"您已绑定为 {ctx.member.name}（{branch}），如需更换请联系管理员。")
    s = ctx.session
    since = ctx.now - timedelta(days=1)
    misses = await inbound.count_replies_since(
        s, ctx.msg.platform, ctx.msg.sender_id, since, NO_MATCH
    )
    if misses >= MAX_MISSES_PER_DAY:
        return Reply("今天核对失败次数过多，请明天再试，或请支部书记帮您绑定。")
    found = [m for m in await members.members_named(s, name) if m.phone.endswith(last4)]
    if not found:
        return Reply(f"{NO_MATCH}，请核对后再试，或联系支部书记。")
    if len(found) > 1:
        return Reply("匹配到多位人员，无法自动绑定，请联系管理员。")
    member = found[0]
    assert member.id is not None
    if await members.account_of(s, member.id, ctx.msg.platform) is not None:
        return Reply(f"{member.name} 已绑定了另一个{platform}账号，如需更换请联系管理员。")
    try:
        async with s.begin_nested():
            await members.bind_account(s, ctx.msg.platform, ctx.msg.sender_id, member.id)
    except IntegrityError:
        return Reply("绑定没有成功（账号已被占用），请联系管理员。")
    branch = await members.branch_by_id(s, member.branch_id)
    return Reply(
        f"✅ 绑定成功：{member.name}\n"
        f"{branch.name if branch else ''} · {member.status}\n"
        "发送「帮助」查看可用命令。"
    )


def parse_branch_name(rest: str) -> str:
    name = plain_text(rest, "支部名称", 100)  # roster branch names are at most 100
    if not name:
        raise ArgError("请写支部名称。")
    return name


async def bind_group(ctx: Context, branch_name: str) -> Reply:
    if ctx.msg.chat_type != "group":
        return Reply("请在要绑定的群里发送这条命令。")
    s = ctx.session
    branch = await members.branch_by_name(s, branch_name)
    if branch is None:
        return Reply(f"没有名为「{branch_name}」的支部，请核对名称（须与花名册一致）。")
    if ctx.role is Role.SECRETARY and ctx.branch is not None and branch.id != ctx.branch.id:
        return Reply(f"您只能把群绑定到本支部（{ctx.branch.name}）。")
    title = ctx.msg.chat_title or (ctx.group.name if ctx.group else "") or ctx.msg.chat_id
    await groups.upsert_group(s, ctx.msg.platform, ctx.msg.chat_id, title, branch.id)
    return Reply(f"✅ 本群已绑定到「{branch.name}」，今后本支部的提醒会发到这里。")


COMMANDS = [
    Command(
        name="绑定",
        role=None,
        usage="绑定 姓名 手机后四位",
        summary="把本账号绑定到花名册中的您",
        run=bind,
        parse=parse_bind,
    ),
    Command(
        name="绑定本群",
        role=Role.SECRETARY,
        usage="绑定本群 支部名",
        summary="把当前群绑定到支部，接收提醒",
        run=bind_group,
        parse=parse_branch_name,
    ),
]
