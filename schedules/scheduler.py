"""APScheduler wiring: wakes the outbox worker and regenerates occurrences.

APScheduler only decides when to look; the outbox decides what goes out, once. Jobs have
fixed ids, so a restart replaces rather than duplicates them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import UTC, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.clock import Clock
from bot.config import Settings
from bot.messages import Reply
from bot.sending import Transport
from schedules import rules
from schedules.holidays import HolidayCalendar
from schedules.occurrences import Planner
from schedules.templates import TemplateError, load_templates
from schedules.worker import OutboxWorker, RunReport
from storage import groups, outbox
from storage.engine import Database

log = logging.getLogger(__name__)

WORKER_JOB = "outbox-worker"
PLAN_JOB = "plan-occurrences"
WORKER_EVERY = timedelta(seconds=30)
PLAN_EVERY = timedelta(minutes=10)


class OutboxPusher:
    """The `Pusher` handlers use: rows for a branch's groups, in the caller's transaction."""

    def __init__(self, clock: Clock, wake: Any = None) -> None:
        self.clock = clock
        self._wake = wake

    async def to_branch_groups(
        self, session: AsyncSession, branch_id: int | None, kind: str, key: str, message: Reply
    ) -> int:
        """Queue `message` for every group of the branch (every group when None), due now."""
        targets = (
            await groups.groups_of_branch(session, branch_id)
            if branch_id is not None
            else await groups.all_groups(session)
        )
        now = self.clock.now().astimezone(UTC)
        payload = message.to_json()
        rows = [
            {
                "key": f"{key}:g{g.id}",
                "kind": kind,
                "due_at": now,
                "payload": payload,
                "group_id": g.id,
            }
            for g in targets
        ]
        await outbox.enqueue(session, rows, now)
        if rows and self._wake is not None:
            self._wake()
        return len(rows)


class Reminders:
    """Templates, rules, outbox worker and the scheduler that drives them, as one unit."""

    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        db: Database,
        calendar: HolidayCalendar,
        transports: Mapping[str, Transport],
    ) -> None:
        try:
            rules.check_settings(settings)
        except ValueError as exc:
            raise TemplateError(str(exc)) from None
        self.settings = settings
        self.clock = clock
        self.db = db
        self.templates = load_templates(settings.reminders.templates_dir)
        self.planner = Planner(settings, clock, calendar, self.templates)
        self.worker = OutboxWorker(db, clock, settings, transports, self.planner.render)
        self.pusher = OutboxPusher(clock, wake=self.wake)
        self.scheduler: AsyncIOScheduler | None = None
        self._tick_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def running(self) -> bool:
        """Whether the scheduler is started and alive."""
        return self.scheduler is not None and self.scheduler.running

    async def tick(self) -> RunReport:
        """Regenerate occurrences, then send what is due."""
        async with self._tick_lock:
            await self.planner.generate(self.db)
            return await self.worker.run_due()

    async def _plan(self) -> None:
        try:
            await self.planner.generate(self.db)
        except Exception:  # a failed pass is retried by the next one
            log.exception("生成提醒计划失败（下一轮会重试）")

    async def _work(self) -> None:
        try:
            await self.worker.run_due()
        except Exception:
            log.exception("推送队列处理失败（下一轮会重试）")

    def start(self) -> None:
        """Start the scheduler and a catch-up pass (pushes due while the bot was down)."""
        self.worker.resume()
        sched = AsyncIOScheduler(timezone=self.clock.tz)
        common: dict[str, Any] = {
            "replace_existing": True,
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": None,
        }
        sched.add_job(
            self._work,
            IntervalTrigger(seconds=WORKER_EVERY.total_seconds()),
            id=WORKER_JOB,
            **common,
        )
        sched.add_job(
            self._plan, IntervalTrigger(seconds=PLAN_EVERY.total_seconds()), id=PLAN_JOB, **common
        )
        sched.start()
        self.scheduler = sched
        self._spawn(self._catch_up())

    async def _catch_up(self) -> None:
        try:
            await self.tick()
        except Exception:
            log.exception("启动时补发错过的推送失败")

    def wake(self) -> None:
        """Run the worker soon (a handler just queued a push; its transaction commits first)."""
        if self.scheduler is None:  # not started: whoever drives the worker will send it
            return
        asyncio.get_running_loop().call_later(0.5, lambda: self._spawn(self._work()))

    def _spawn(self, coro: Any) -> None:
        if self.scheduler is None:  # not started (tests, CLI): the caller drives the worker
            coro.close()
            return
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def idle(self) -> None:
        """Wait for the passes started so far (start-up catch-up, wake-ups)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def stop(self) -> None:
        """Stop scheduling; sends in flight finish and are recorded, the rest wait in the
        outbox for the next start (or another replica)."""
        if self.scheduler is not None:
            if self.scheduler.running:  # it may have died on its own
                self.scheduler.shutdown(wait=False)
            self.scheduler = None
        self.worker.drain()
        await self.idle()
        async with self._tick_lock:
            await self.worker.wait_idle()
