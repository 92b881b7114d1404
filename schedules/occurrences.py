"""Turns the rules into rows: rule events, and outbox rows written ahead of time.

Texts that depend on the moment they go out (who has not confirmed, who was absent, the
month's figures) are stored as a reference and rendered by `render` when the row is sent.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

from bot import jsoncodec
from bot.clock import Clock, as_utc
from bot.config import Settings
from bot.context import Services
from bot.messages import Mention, Reply
from handlers import text
from schedules import deadlines, minutes, pledges, rules, terms, yearly
from schedules.holidays import HolidayCalendar
from schedules.monthly import monthly_summary
from schedules.templates import Templates
from schedules.worker import SessionOpener
from storage import groups, members, outbox, reminders
from storage.engine import Database
from storage.models import Branch, Event, Group, Member, Outbox, StudyTask

# How far ahead rows are written; rule events are created for this month and the next.
LOOKAHEAD = timedelta(days=7)


class Render(Protocol):
    async def __call__(
        self, planner: Planner, s: AsyncSession, ref: dict[str, Any], row: Outbox
    ) -> Reply | None: ...


class Extra(Protocol):
    """A module of the branch's year (换届, 组织生活会, 承诺, 纪要) that plans its own pushes.

    `plan` returns outbox rows (dicts for storage.outbox.enqueue) due in [low, high];
    `RENDERS` maps the `ref.kind` of its rows whose text is made when they are sent."""

    RENDERS: dict[str, Render]

    async def plan(
        self,
        planner: Planner,
        s: AsyncSession,
        all_groups: list[Group],
        low: datetime,
        high: datetime,
    ) -> list[dict[str, Any]]: ...


EXTRAS: tuple[Extra, ...] = (terms, yearly, pledges, minutes)  # type: ignore[assignment]


def _month_start(d: date, plus: int = 0) -> date:
    m = d.month - 1 + plus
    return date(d.year + m // 12, m % 12 + 1, 1)


def _kind(event: Event) -> str:
    return rules.meeting_label(event.kind, event.party_group)


async def branch_shapes(s: AsyncSession) -> dict[int, rules.BranchShape]:
    """Each branch's 党小组 and committee, as its roster gives them."""
    groups = await members.party_groups(s)
    committees = await members.branches_with_committee(s)
    return {
        b: rules.BranchShape(tuple(groups.get(b, ())), b in committees)
        for b in {*groups, *committees}
    }


class Planner:
    """Writes what the rules say into the events table and the outbox."""

    def __init__(
        self, settings: Settings, clock: Clock, calendar: HolidayCalendar, templates: Templates
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.tz = clock.tz
        self.calendar = calendar
        self.templates = templates
        self.grace = timedelta(hours=settings.reminders.grace_hours)
        self.services = Services(settings=settings, clock=clock, calendar=calendar)

    async def generate(self, db: Database, since: datetime | None = None) -> int:
        """Create due rule events and outbox rows for [now - grace, now + LOOKAHEAD].

        `since` raises the lower bound (a fresh install need not catch up on the morning).
        """
        now = self.clock.now()
        low, high = now - self.grace, now + LOOKAHEAD
        if since is not None:
            low = max(low, since)
        rows: list[dict[str, Any]] = []
        async with db.write() as s:
            branches = list(await members.all_branches(s))
            all_groups = list(await groups.all_groups(s))
            await self._rule_events(s, branches, now)
            for event, branch in await reminders.events_between(
                s,
                low - rules.SIGNIN_CLOSES_AFTER,
                high + rules.PREVIEW_REACH,  # a preview moved off rest days comes earlier
            ):
                starts = as_utc(event.starts_at).astimezone(self.tz)
                for p in rules.event_reminders(
                    f"event:{event.id}",
                    _kind(event),
                    branch.name,
                    starts,
                    event.place,
                    calendar=self.calendar,
                    number=event.number,
                ):
                    if low <= p.due <= high:
                        ref = {"event_id": event.id} if p.kind == "absentees" else None
                        rows += await self._fan_out(s, p, all_groups, branch.id, ref)
            local = now.astimezone(self.tz)
            years = {local.year, high.astimezone(self.tz).year}
            for year in sorted(years):
                for p in rules.year_reminders(self.settings, self.calendar, year):
                    if low <= p.due <= high:
                        ref = {"month": p.fields["month"]} if p.kind == "monthly_summary" else None
                        rows += await self._fan_out(s, p, all_groups, None, ref)
            rows += await self._study_deadlines(s, all_groups, low, high)
            for extra in EXTRAS:
                rows += await extra.plan(self, s, all_groups, low, high)
            await outbox.enqueue(s, rows, now)
        return len(rows)

    async def _rule_events(self, s: AsyncSession, branches: list[Branch], now: datetime) -> None:
        today = now.astimezone(self.tz).date()
        wanted: list[reminders.RuleEvent] = []
        # A branch with 党小组 holds one 党小组会 per group (each expects its own members);
        # one whose roster names no 支委 has no 支委会 (it would expect nobody).
        shapes = await branch_shapes(s)
        for month in (_month_start(today), _month_start(today, 1)):
            for branch in branches:
                assert branch.id is not None
                shape = shapes.get(branch.id, rules.BranchShape())
                for ev, g in rules.held_meetings(
                    self.settings, branch.name, shape, month.year, month.month, self.calendar
                ):
                    if ev.starts <= now:  # never invent a meeting in the past
                        continue
                    period = (
                        datetime.combine(ev.period_start, datetime.min.time(), self.tz),
                        datetime.combine(ev.period_end, datetime.min.time(), self.tz),
                    )
                    key = f"rule:{ev.kind}:{branch.id}:{ev.period}"
                    wanted.append(
                        reminders.RuleEvent(
                            branch.id, ev.kind, ev.starts, ev.place,
                            f"{key}:{g}" if g else key, period, g,
                        )
                    )  # fmt: skip
        await reminders.ensure_rule_events(s, wanted, now)

    async def _fan_out(
        self,
        s: AsyncSession,
        p: rules.Planned,
        all_groups: list[Group],
        branch_id: int | None,
        ref: dict[str, Any] | None,
    ) -> list[dict[str, Any]]:
        """One row per target of the occurrence."""
        due = p.due.astimezone(UTC)
        if ref is not None:
            payload = json.dumps({"text": "", "ref": {"kind": p.kind, **ref}}, ensure_ascii=False)
        else:
            payload = Reply(self.templates.render(p.template, **p.fields)).to_json()
        base = {"kind": p.kind, "due_at": due, "payload": payload}
        if p.audience == rules.SECRETARIES:
            return [
                {**base, "key": f"{p.key}:m{m.id}", "member_id": m.id}
                for m in await reminders.secretaries(s, branch_id)
            ]
        targets = [
            g for g in all_groups if p.audience == rules.ALL_GROUPS or g.branch_id == branch_id
        ]
        return [{**base, "key": f"{p.key}:g{g.id}", "group_id": g.id} for g in targets]

    async def _study_deadlines(
        self, s: AsyncSession, all_groups: list[Group], low: datetime, high: datetime
    ) -> list[dict[str, Any]]:
        tasks = await reminders.tasks_due_between(s, *deadlines.due_dates(low, high, self.tz))
        return deadlines.rows(tasks, all_groups, low, high, self.tz,
                              kind="study_deadline", key="study", ref_field="task_id")  # fmt: skip

    async def render(self, session: SessionOpener, row: Outbox) -> Reply | None:
        """The message a row sends now; None when there is nothing to say any more.

        Most rows carry their text; only those that refer to data now (absentees, study
        deadlines, monthly summaries) open a session, through `session()`."""
        data = jsoncodec.loads(row.payload)
        ref = data.get("ref")
        if not ref:
            return Reply.from_data(data)
        s = await session()
        kind = ref["kind"]
        if kind == "absentees":
            return await self._absentees(s, int(ref["event_id"]))
        if kind == "study_deadline":
            return await self._study_deadline(s, int(ref["task_id"]), row.group_id)
        if kind == "monthly_summary" and row.member_id is not None:
            secretary = await s.get(Member, row.member_id)
            if secretary is None:
                return None
            return await monthly_summary(
                s,
                self.services,
                self.templates,
                secretary.branch_id,
                ref["month"],
                self.clock.now(),
            )
        for extra in EXTRAS:
            if kind in extra.RENDERS:
                return await extra.RENDERS[kind](self, s, ref, row)
        raise ValueError(f"unknown dynamic outbox kind {kind!r}")

    async def _absentees(self, s: AsyncSession, event_id: int) -> Reply | None:
        event = await s.get(Event, event_id)
        if event is None:
            return None
        if event.cancelled_at is not None:
            return None
        branch = await members.branch_by_id(s, event.branch_id)
        absent = await reminders.event_absentees(s, event)
        if not absent:
            return None
        expected = await reminders.event_expected(s, event)
        leaves = await reminders.event_leaves(s, event)
        on_leave = "、".join(f"{m.name}（{why}）" if why else m.name for m, why in leaves)
        starts = as_utc(event.starts_at).astimezone(self.tz)
        name = branch.name if branch else ""
        fields = rules.event_fields(_kind(event), name, starts, event.place, event.number)
        body = self.templates.render(
            "absentees",
            **fields,
            expected=len(expected),
            count=len(absent),
            names="、".join(m.name for m in absent),
            leave=f"请假 {len(leaves)} 人：{on_leave}" if leaves else "无人请假。",
        )
        return Reply(body)

    async def _study_deadline(
        self, s: AsyncSession, task_id: int, group_id: int | None
    ) -> Reply | None:
        task = await s.get(StudyTask, task_id)
        group = await s.get(Group, group_id) if group_id is not None else None
        if task is None or task.due is None or group is None or group.branch_id is None:
            return None
        missing = await reminders.unconfirmed(s, task_id, group.branch_id, self.tz)
        if not missing:
            return None
        ids = [m.id for m in missing if m.id is not None]
        accounts = await members.accounts_for(s, ids, group.platform)
        mentions = tuple(
            Mention(accounts[m.id], m.name)
            for m in missing
            if m.id is not None and m.id in accounts
        )
        body = self.templates.render(
            "study_deadline",
            title=task.title.strip("《》"),
            due=text.day(task.due),
            count=len(missing),
            names="、".join(m.name for m in missing),
            number=task.id,
            link=task.link,
        )
        return Reply(body, mentions=mentions)
