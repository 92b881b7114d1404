"""未绑定: who in the branch has not bound a WeCom or DingTalk account yet."""

from __future__ import annotations

from bot.context import Context
from bot.messages import Reply
from bot.router import Command
from handlers.summary import Refusal, name_lines, paragraphs, resolve_scope
from storage import branches
from storage.models import Role


async def unbound(ctx: Context, branch_name: str) -> Reply:
    # A secretary sees their own branch; an admin the named branch, else the group's,
    # else the whole county.
    try:
        scope = await resolve_scope(ctx, branch_name, group_first=True)
    except Refusal as exc:
        return Reply(str(exc))
    ids = scope.branch_ids
    rows = []
    for branch_id in ids if ids is not None else [None]:
        rows.extend(await branches.member_rows(ctx.session, branch_id, unbound=True))
    if not rows:
        return Reply(f"👍 {scope.label}的同志都已绑定企业微信或钉钉账号。")
    names = {b.id: b.name for b in scope.branches}
    triples = [(r.member.branch_id, r.member.name, r.member.id or 0) for r in rows]
    head = f"{scope.label}未绑定企业微信或钉钉账号的：{len(rows)} 人"
    parts = paragraphs(head, name_lines(triples, names, scope.county))
    parts.append("请提醒他们在群里发送：绑定 姓名 手机后四位")
    return Reply("\n\n".join(parts))


COMMANDS = [
    Command(
        name="未绑定",
        role=Role.SECRETARY,
        usage="未绑定",
        summary="本支部谁还没有绑定企业微信或钉钉账号",
        run=unbound,
    ),
]
