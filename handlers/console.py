"""看板: a personal, single-use link into the web console (secretaries and the admin)."""

from __future__ import annotations

from bot.console_links import LOGIN_TTL, login_url
from bot.context import Context
from bot.messages import Reply
from bot.router import Command
from storage.models import Role


async def console_link(ctx: Context, rest: str) -> Reply:
    member = ctx.require_member()
    assert member.id is not None
    url = await login_url(ctx.session, ctx.services.settings, member.id, ctx.now)
    minutes = int(LOGIN_TTL.total_seconds() // 60)
    scope = "全县" if ctx.role is Role.ADMIN else "本支部"
    head = f"📊 {member.name}的看板链接（{scope}），{minutes} 分钟内有效，只能打开一次："
    if ctx.msg.chat_type == "group":
        # Whoever opens it first is logged in as the asker: say so where others can see it.
        head = (
            f"📊 这是{member.name}本人的看板链接（{scope}），请勿转发、勿让他人点开；"
            f"{minutes} 分钟内有效，只能打开一次。私聊机器人发送“看板”更安全："
        )
    return Reply(f"{head}\n{url}")


COMMANDS = [
    Command(
        name="看板",
        aliases=("控制台",),
        role=Role.SECRETARY,
        usage="看板",
        summary="网页看板的个人登录链接（10 分钟内有效，只能用一次）",
        run=console_link,
    ),
]
