"""帮助: the commands this sender may use."""

from __future__ import annotations

from collections.abc import Callable

from bot.context import Context
from bot.messages import Reply
from bot.router import Command


def make_help(commands: Callable[[], list[Command]]) -> Command:
    """帮助 lists the other commands, so it is built once they are all known."""

    async def run(ctx: Context, _: str) -> Reply:
        role = ctx.role
        if role is None:
            return Reply(
                "您好，我是清风党建助手。\n"
                "请先绑定身份：\n"
                "绑定 姓名 手机后四位\n"
                "（例如：绑定 张三 1234）"
            )
        lines = [f"清风 · 可用命令（{role.value}）"]
        for cmd in commands():
            if cmd.role is None or cmd.role.rank > role.rank:
                continue
            lines.append(f"· {cmd.usage}\n  {cmd.summary}")
        lines.append("命令前可加 @我 或 /。")
        return Reply("\n".join(lines))

    return Command(
        name="帮助",
        aliases=("help", "菜单", "?", "？"),
        role=None,
        usage="帮助",
        summary="查看可用命令",
        run=run,
    )
