"""The operator's changes to people and branches (qingfeng member …, qingfeng branch …).

Each function either makes the whole change or raises OperatorError with one Chinese line
for the operator, naming close matches when a name or phone is not known.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import audit, events, members, outbox
from storage.models import (
    Account,
    Appraisal,
    Branch,
    BranchTerm,
    Event,
    EventKind,
    Group,
    Member,
    MemberChange,
    Pledge,
    StudyTask,
    Talk,
)

# The platforms a person binds to be reached; "console" and the like do not count.
REAL_PLATFORMS = ("wecom", "dingtalk")
PLATFORM_NAMES = {"wecom": "企业微信", "dingtalk": "钉钉"}


class OperatorError(ValueError):
    """An operator mistake; the message is one Chinese line, shown as is."""


@dataclass(frozen=True)
class Who:
    """Who made a change and with what, for the history of people (member_changes).
    The functions below take `who=None` for `Who()` (ruff's B008 before 0.9 flags a
    dataclass default even when frozen)."""

    actor: str = "程序"
    source: str = ""


async def _record(
    s: AsyncSession, who: Who | None, m: Member, action: str, detail: str
) -> None:
    who = who or Who()
    assert m.id is not None
    change = MemberChange(
        member_id=m.id,
        phone=m.phone,
        name=m.name,
        action=action,
        detail=detail[:2000],
        actor=who.actor[:100],
        source=who.source[:200],
        at=datetime.now(UTC),
    )
    await audit.record(s, [change])


def close_matches(word: str, choices: Iterable[str]) -> str:
    """'（您是不是要写：甲、乙？）', or '' when nothing is close."""
    found = difflib.get_close_matches(word, list(choices), n=3, cutoff=0.5)
    return f"（您是不是要写：{'、'.join(found)}？）" if found else ""


async def branch_named(s: AsyncSession, name: str) -> Branch:
    branch = await members.branch_by_name(s, name)
    if branch is None:
        names = [b.name for b in await members.all_branches(s)]
        raise OperatorError(f"没有叫“{name}”的支部。{close_matches(name, names)}")
    return branch


async def member_with_phone(s: AsyncSession, phone: str) -> Member:
    # As the roster accepts it: full-width digits, spaces, dashes, +86.
    phone = re.sub(r"[\s\-()（）]", "", unicodedata.normalize("NFKC", phone))
    for prefix in ("+86", "0086", "86"):
        if phone.startswith(prefix) and len(phone) == len(prefix) + 11:
            phone = phone[len(prefix) :]
    member = await members.member_by_phone(s, phone)
    if member is None:
        phones = (await s.exec(select(Member.phone))).all()
        raise OperatorError(f"没有手机号为 {phone} 的人员。{close_matches(phone, phones)}")
    return member


@dataclass(frozen=True)
class MemberRow:
    member: Member
    branch: str
    platforms: tuple[str, ...]  # the real platforms bound, e.g. ("wecom",)


async def member_rows(
    s: AsyncSession, branch_id: int | None = None, *, unbound: bool = False
) -> list[MemberRow]:
    """Active members (of one branch, or all), each with the platforms they have bound."""
    stmt = (
        select(Member, Branch)
        .join(Branch, col(Branch.id) == Member.branch_id)
        .where(Member.active)
        .order_by(col(Branch.id), col(Member.id))
    )
    if branch_id is not None:
        stmt = stmt.where(Member.branch_id == branch_id)
    pairs = (await s.exec(stmt)).all()
    ids = [m.id for m, _ in pairs if m.id is not None]
    bound: dict[int, set[str]] = {}
    if ids:
        acc = select(Account.member_id, Account.platform).where(
            col(Account.member_id).in_(ids), col(Account.platform).in_(REAL_PLATFORMS)
        )
        for mid, platform in (await s.exec(acc)).all():
            bound.setdefault(mid, set()).add(platform)
    rows = []
    for m, b in pairs:
        have = tuple(p for p in REAL_PLATFORMS if p in bound.get(m.id or 0, set()))
        if unbound and have:
            continue
        rows.append(MemberRow(m, b.name, have))
    return rows


async def leave(s: AsyncSession, phone: str, who: Who | None = None) -> Member:
    """Inactive: kept in history, no longer expected; every account unbound so the
    platform identity can be bound by someone else."""
    member = await member_with_phone(s, phone)
    if not member.active:
        raise OperatorError(f"{member.name}（{member.phone}）已经是离开状态。")
    assert member.id is not None
    had = await _accounts(s, member.id)
    await audit.unbind_all(s, member.id)
    member.active = False
    member.updated_at = datetime.now(UTC)
    s.add(member)
    await s.flush()
    lines = [f"{PLATFORM_NAMES.get(a.platform, a.platform)}账号 {a.external_id} → " for a in had]
    await _record(s, who, member, "离开", "\n".join(["在册 是 → 否", *lines]))
    return member


async def _accounts(s: AsyncSession, member_id: int) -> Sequence[Account]:
    return (await s.exec(select(Account).where(Account.member_id == member_id))).all()


async def move(
    s: AsyncSession, phone: str, branch_name: str, who: Who | None = None
) -> tuple[Member, str]:
    """Into another branch; returns the member and the old branch's name."""
    member = await member_with_phone(s, phone)
    target = await branch_named(s, branch_name)
    old = await members.branch_by_id(s, member.branch_id)
    assert old is not None and target.id is not None
    if old.id == target.id:
        raise OperatorError(f"{member.name} 已经在 {target.name}。")
    member.branch_id = target.id
    member.updated_at = datetime.now(UTC)
    s.add(member)
    await s.flush()
    await _record(s, who, member, "调动", f"支部 {old.name} → {target.name}")
    return member, old.name


async def unbind(s: AsyncSession, phone: str, platform: str, who: Who | None = None) -> Member:
    if platform not in REAL_PLATFORMS:
        raise OperatorError(f"平台应为 wecom（企业微信）或 dingtalk（钉钉），不是“{platform}”。")
    member = await member_with_phone(s, phone)
    assert member.id is not None
    had = await members.account_of(s, member.id, platform)
    if had is None or not await audit.unbind_all(s, member.id, [platform]):
        raise OperatorError(f"{member.name} 没有绑定{PLATFORM_NAMES[platform]}账号。")
    await s.flush()
    detail = f"{PLATFORM_NAMES[platform]}账号 {had.external_id} → "
    await _record(s, who, member, "解绑", detail)
    return member


@dataclass(frozen=True)
class BranchCount:
    branch: Branch
    members: int  # active
    unbound: int  # active, no WeCom or DingTalk account
    groups: int


async def branch_counts(s: AsyncSession) -> list[BranchCount]:
    rows = await member_rows(s)
    groups = dict(
        (
            await s.exec(
                select(Group.branch_id, func.count())
                .where(col(Group.branch_id).is_not(None))
                .group_by(col(Group.branch_id))
            )
        ).all()
    )
    out = []
    for b in await members.all_branches(s):
        mine = [r for r in rows if r.member.branch_id == b.id]
        out.append(
            BranchCount(b, len(mine), sum(1 for r in mine if not r.platforms), groups.get(b.id, 0))
        )
    return out


async def rename(s: AsyncSession, old: str, new: str) -> Branch:
    branch = await branch_named(s, old)
    new = new.strip()
    if not new:
        raise OperatorError("新名称不能为空。")
    if len(new) > 100:
        raise OperatorError("支部名称最长 100 字。")
    if await members.branch_by_name(s, new) is not None:
        raise OperatorError(f"已有叫“{new}”的支部；要合并请用 qingfeng branch merge {old} {new}")
    branch.name = new
    s.add(branch)
    await s.flush()
    return branch


@dataclass(frozen=True)
class Merged:
    members: int
    groups: int
    events: int
    tasks: int
    cancelled: int  # upcoming planned meetings that doubled the target's own
    terms: int = 0  # the source's 换届 records, dropped: the target's committee stands


def _period(event: Event) -> tuple[int, int]:
    """The planner's period of a meeting: its month, or quarter for 党员大会 and 党课."""
    local = event.starts_at + timedelta(hours=8)  # Shanghai: the planner's calendar
    if event.kind in (EventKind.ORG_LIFE.value, EventKind.APPRAISAL.value):
        return local.year, 0  # one a year
    if event.kind in (EventKind.GENERAL.value, EventKind.LECTURE.value):
        return local.year, 100 + (local.month - 1) // 3
    return local.year, local.month


async def _cancel_doubles(
    s: AsyncSession, moved: Sequence[Event], dst: Branch, now: datetime
) -> int:
    """Upcoming planner-made meetings of the merged branch that the target already holds
    in the same period: cancelled, and their waiting pushes withdrawn, so the members are
    not called to two 主题党日 a month."""
    theirs = (
        await s.exec(
            select(Event).where(
                Event.branch_id == dst.id,
                col(Event.cancelled_at).is_(None),
                col(Event.id).not_in([e.id for e in moved] or [0]),
            )
        )
    ).all()
    held = {(e.kind, e.party_group, _period(e)) for e in theirs}
    n = 0
    for event in moved:
        if event.rule_key is None or event.cancelled_at is not None or event.starts_at <= now:
            continue
        if (event.kind, event.party_group, _period(event)) not in held:
            continue
        await events.cancel_event(s, event, now, "支部合并，与并入支部的同类会议重复")
        await outbox.withdraw(s, f"event:{event.id}:", "支部合并，会议已取消")
        n += 1
    return n


async def merge(
    s: AsyncSession, source: str, target: str, now: datetime | None = None, who: Who | None = None
) -> Merged:
    """Everything of `source` into `target`, then `source` removed."""
    src = await branch_named(s, source)
    dst = await branch_named(s, target)
    if src.id == dst.id:
        raise OperatorError("不能把支部合并到它自己。")
    # Meeting numbers are per branch: the moved meetings follow the target's numbers.
    start = (
        await s.exec(
            select(func.coalesce(func.max(Event.number), 0)).where(Event.branch_id == dst.id)
        )
    ).one()
    moved = (
        await s.exec(
            select(Event)
            .where(Event.branch_id == src.id)
            .order_by(col(Event.number), col(Event.id))
        )
    ).all()
    for i, event in enumerate(moved, start=int(start) + 1):
        event.branch_id, event.number = dst.id, (i if event.number is not None else None)
        s.add(event)
    await s.flush()
    cancelled = await _cancel_doubles(s, moved, dst, now or datetime.now(UTC))
    people = (await s.exec(select(Member).where(Member.branch_id == src.id))).all()
    for m in people:
        await _record(s, who, m, "调动", f"支部 {src.name} → {dst.name}（支部合并）")
    counts = []
    # Talks, grades and a branch's own pledges follow their people; the source's 换届
    # records go: after a merger the target's committee is the one whose term runs.
    for model in (Member, Group, StudyTask, Talk, Appraisal, Pledge):
        stmt = update(model).where(col(model.branch_id) == src.id).values(branch_id=dst.id)
        counts.append(int((await s.exec(stmt)).rowcount or 0))  # type: ignore[call-overload]
    dropped = await s.exec(  # type: ignore[call-overload]
        delete(BranchTerm).where(col(BranchTerm.branch_id) == src.id)
    )
    await s.delete(src)
    await s.flush()
    return Merged(
        counts[0], counts[1], len(moved), counts[2], cancelled, int(dropped.rowcount or 0)
    )


async def remove(s: AsyncSession, name: str) -> None:
    """Only an empty branch: history (left members, meetings, talks, grades) keeps a
    branch; its 换届 records go with it."""
    branch = await branch_named(s, name)
    held = []
    for label, model in (
        ("人员", Member), ("群", Group), ("会议", Event), ("学习任务", StudyTask),
        ("谈心记录", Talk), ("评议记录", Appraisal), ("廉洁承诺", Pledge),
    ):  # fmt: skip
        stmt = select(func.count()).select_from(model).where(model.branch_id == branch.id)
        n = (await s.exec(stmt)).one()
        if n:
            held.append(f"{n} 个{label}" if label != "人员" else f"{n} 名人员（含已离开的）")
    if held:
        raise OperatorError(
            f"支部“{name}”还有{'、'.join(held)}，不能删除；"
            "可用 qingfeng branch merge 合并到其他支部。"
        )
    terms = delete(BranchTerm).where(col(BranchTerm.branch_id) == branch.id)
    await s.exec(terms)  # type: ignore[call-overload]
    await s.delete(branch)
    await s.flush()
