"""The outbox worker: claims due rows, sends each through its platform, records the result.

The claim in the database, not the scheduler, is what makes a push go out once: a row is
sent only by the worker whose UPDATE moved it from pending to sending.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.batching import Batches
from bot.clock import Clock
from bot.config import Settings
from bot.messages import Reply
from bot.sending import GroupTarget, SendError, Transport
from schedules.report import kind_name
from storage import outbox, reminders
from storage.engine import Database
from storage.models import Group, Outbox
from storage.outbox import ClaimedGroup

log = logging.getLogger(__name__)
PLATFORM_NAMES = {"wecom": "企业微信", "dingtalk": "钉钉"}

SessionOpener = Callable[[], Awaitable[AsyncSession]]
Renderer = Callable[[SessionOpener, Outbox], Awaitable[Reply | None]]

BATCH = 100
LEASE = timedelta(minutes=10)  # default of reminders.claim_timeout_seconds
CONCURRENCY = 50
RECORD_BATCH = 100  # push results committed together
MAX_ATTEMPTS = 8
BACKOFF_FIRST = 30.0  # seconds; doubles per attempt
BACKOFF_MAX = 3600.0


def backoff(attempt: int, retry_after: float | None) -> timedelta:
    """Wait before the next try: exponential, never shorter than the platform asked."""
    delay = min(BACKOFF_FIRST * 2 ** max(0, attempt - 1), BACKOFF_MAX)
    return timedelta(seconds=max(delay, retry_after or 0.0))


@dataclass
class RunReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    skipped: int = 0
    missed: int = 0
    lost_claims: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Result:
    """How one push ended, to be recorded: `mark(session, row id, token, *args)`."""

    mark: Callable[..., Awaitable[bool]]
    row: Outbox
    token: str
    report: RunReport
    target: _Target | None
    args: tuple[object, ...]


@dataclass(frozen=True)
class _Target:
    platform: str
    group: GroupTarget | None = None
    user_id: str = ""
    label: str = ""
    problem: str = ""  # why it cannot be sent, worded for the operator (no account bound)


# Each way a push ends: its word in the log line, and the RunReport field that counts it.
_OUTCOMES: dict[Callable[..., Awaitable[bool]], tuple[str, str]] = {
    outbox.mark_sent: ("sent", "sent"),
    outbox.mark_retry: ("retry", "retried"),
    outbox.mark_failed: ("failed", "failed"),
    outbox.mark_skipped: ("skipped", "skipped"),
}


def _opener(db: Database, stack: contextlib.AsyncExitStack) -> SessionOpener:
    """A read session opened on first use and closed with `stack`."""
    opened: list[AsyncSession] = []

    async def session() -> AsyncSession:
        if not opened:
            opened.append(await stack.enter_async_context(db.read()))
        return opened[0]

    return session


class OutboxWorker:
    """Sends due outbox rows through `transports[platform]`."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        settings: Settings,
        transports: Mapping[str, Transport],
        render: Renderer,
        worker_id: str | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.settings = settings
        self.transports = transports  # the App's dict, so platforms added later are seen
        self.render = render
        self.worker_id = worker_id or f"w-{uuid.uuid4().hex[:12]}"
        self.grace = timedelta(hours=settings.reminders.grace_hours)
        # A claim older than this belongs to a dead worker (killed mid-batch).
        self.lease = timedelta(seconds=settings.reminders.claim_timeout_seconds)
        self._draining = False
        self._lock = asyncio.Lock()
        # The records of sends that returned, committed together (see _finish).
        self._records: Batches[_Result, BaseException | None] = Batches(
            self._record_batch, RECORD_BATCH, lambda _: asyncio.CancelledError()
        )
        # Config groups by the (platform, chat id) App.sync_config stored them under.
        self._configured = {(g.platform, g.chat_id or f"name:{g.name}"): g for g in settings.groups}
        # Built once per group: reading the config's pydantic fields costs ~1,300
        # instructions each, for every push of a fan-out.
        self._targets: dict[tuple[str, str, str], GroupTarget] = {}

    async def run_due(self) -> RunReport:
        """Send every row due now; mark rows older than the grace period missed."""
        async with self._lock:
            return await self._run()

    async def wait_idle(self) -> None:
        """Return once no pass is running (a scheduler job may be mid-pass at stop)."""
        async with self._lock:
            pass

    def drain(self) -> None:
        """Stop starting sends: those in flight finish and are recorded, the rest of the
        claimed batch is handed back, and no further batch is claimed (graceful shutdown)."""
        self._draining = True

    def resume(self) -> None:
        self._draining = False

    async def _run(self) -> RunReport:
        report = RunReport()
        now = self.clock.now()
        async with self.db.write() as s:
            report.missed = await outbox.mark_missed(s, now - self.grace, now)
        if report.missed:
            log.warning(
                "推送队列：%d 条推送到期已超过 %s（停机太久），标为已错过；"
                "可用 qingfeng outbox resend --failed 补发",
                report.missed,
                self.grace,
            )
        # A pipeline: the next batch is claimed as soon as the last send of this one has
        # started, not when it has finished, so up to CONCURRENCY sends stay in flight from
        # the first push to the last instead of draining to zero at every batch boundary.
        sem = asyncio.Semaphore(CONCURRENCY)
        in_flight: set[asyncio.Task[None]] = set()

        async def one(item: tuple[Outbox, Reply | None, _Target | None], token: str) -> None:
            try:
                await self._deliver(*item, token, now, report)
            finally:
                sem.release()

        try:
            while not self._draining:
                token = f"{self.worker_id}:{uuid.uuid4().hex[:8]}"
                # The lease runs from the claim itself: a long pass must not hand out claims
                # that are already close to expiry.
                until = self.clock.now() + self.lease
                async with self.db.write() as s:
                    rows = list(await outbox.claim_due(s, now, token, until, BATCH))
                    targets = await outbox.claimed_groups(s, token) if rows else []
                if not rows:
                    break
                by_id: dict[int | None, ClaimedGroup] = {g.id: g for g in targets}
                started: set[int] = set()
                try:
                    # At most one read for the whole batch, opened only if a row needs data
                    # (most carry their text and target); each result is recorded on its own.
                    async with contextlib.AsyncExitStack() as stack:
                        session = _opener(self.db, stack)
                        prepared = [(r, *(await self._prepare(session, r, by_id))) for r in rows]
                    for item in prepared:
                        await sem.acquire()
                        if self._draining:  # shutting down: this send has not begun
                            sem.release()
                            break
                        assert item[0].id is not None
                        started.add(item[0].id)
                        task = asyncio.create_task(one(item, token))
                        in_flight.add(task)
                        task.add_done_callback(in_flight.discard)
                except asyncio.CancelledError:
                    await self._release(token, started)
                    raise
                if self._draining:
                    await self._release(token, started)
            await asyncio.gather(*in_flight)
        except asyncio.CancelledError:
            # Cancelled: rows whose send had not begun were handed back above. A send in
            # flight may have reached the platform, so it is cancelled and its row waits
            # for the lease to expire. A send that returned has reached it: its record is
            # committed before we give up, or a restart would send it again.
            for task in in_flight:
                task.cancel()
            await self._settle(in_flight)
            raise
        return report

    async def _settle(self, cancelled: set[asyncio.Task[None]]) -> None:
        """Wait for the cancelled sends to end and for the records of those that returned,
        through further cancellations too: a record is one short UPDATE, and one that fails
        logs its row (_record). A send returns and its record is created in one step, so
        no record starts after the sends were cancelled."""
        def pending() -> list[asyncio.Task[None]]:
            tasks = [*cancelled, self._records.drainer]
            return [t for t in tasks if t is not None and not t.done()]

        while waiting := pending():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(asyncio.gather(*waiting, return_exceptions=True))

    async def _release(self, token: str, started: set[int]) -> None:
        async with self.db.write() as s:
            await outbox.release(s, token, exclude=started)

    async def _prepare(
        self, session: SessionOpener, row: Outbox, by_id: dict[int | None, ClaimedGroup]
    ) -> tuple[Reply | None, _Target | None]:
        message = await self.render(session, row)
        target = await self._target(session, row, by_id) if message is not None else None
        return message, target

    async def _deliver(
        self,
        row: Outbox,
        message: Reply | None,
        target: _Target | None,
        token: str,
        now: datetime,
        report: RunReport,
    ) -> None:
        assert row.id is not None
        if message is None:
            await self._finish(outbox.mark_skipped, row, token, report, None, "无需发送")
            return
        if target is None or target.problem:
            reason = target.problem if target else "找不到推送对象（群或人员已不存在）"
            await self._finish(outbox.mark_failed, row, token, report, None, reason)
            return
        transport = self.transports.get(target.platform)
        if transport is None:
            name = PLATFORM_NAMES.get(target.platform, target.platform)
            reason = f"没有配置{name}（配置文件的 [{target.platform}] 部分），无法发送"
            await self._finish(outbox.mark_failed, row, token, report, target, reason)
            return
        try:
            if target.group is not None:
                await transport.send_group(target.group, message)
            else:
                await transport.send_direct(target.user_id, message)
        except SendError as exc:
            self._on_error(row, target, exc.reason)
            attempts = row.attempts + 1
            if exc.permanent or attempts >= MAX_ATTEMPTS:
                reason = exc.reason if exc.permanent else f"重试 {attempts} 次仍失败：{exc.reason}"
                await self._finish(outbox.mark_failed, row, token, report, target, reason)
                report.errors.append(f"{target.label}: {reason}")
            else:
                next_at = now + backoff(attempts, exc.retry_after)
                await self._finish(
                    outbox.mark_retry, row, token, report, target, next_at, exc.reason
                )
            return
        except Exception as exc:  # a bug in a transport must not stop the other pushes
            log.exception("推送 #%s 发送时出现意外错误，稍后重试", row.id)
            next_at = now + backoff(row.attempts + 1, None)
            reason = type(exc).__name__
            await self._finish(outbox.mark_retry, row, token, report, target, next_at, reason)
            return
        await self._finish(outbox.mark_sent, row, token, report, target, now)

    def _on_error(self, row: Outbox, target: _Target, reason: str) -> None:
        log.warning(
            "推送 #%s（%s → %s）未发出：%s", row.id, kind_name(row.kind), target.label, reason
        )

    async def _finish(
        self,
        mark: Callable[..., Awaitable[bool]],
        row: Outbox,
        token: str,
        report: RunReport,
        target: _Target | None,
        *args: object,
    ) -> None:
        """Record the outcome of one push, count it in the report and log its line.

        Results that arrive together are recorded in one transaction (bot.batching). The
        record is queued in the same step as the send returned, and cancelling the push's
        task does not cancel it: a cancelled pass waits for it (_settle) before it ends.
        """
        done = self._records.submit(_Result(mark, row, token, report, target, args))
        failure = await asyncio.shield(done)
        if failure is not None:
            raise failure

    async def _record_batch(self, results: list[_Result]) -> list[BaseException | None]:
        # Pushes that went out (most of them) in one statement per pass; the rest each.
        sent = [r for r in results if r.mark is outbox.mark_sent]
        by_token: dict[tuple[str, object], list[int]] = {}
        for r in sent:
            assert r.row.id is not None
            by_token.setdefault((r.token, r.args[0]), []).append(r.row.id)
        try:
            async with self.db.write() as s:
                still_ours: set[int] = set()
                for (token, now), ids in by_token.items():
                    assert isinstance(now, datetime)
                    still_ours |= await outbox.mark_sent_many(s, ids, token, now)
                oks = [
                    r.row.id in still_ours if r.mark is outbox.mark_sent else await self._mark(s, r)
                    for r in results
                ]
        except Exception:
            # Each on its own, so one bad record does not lose the others'.
            return [await self._record_alone(r) for r in results]
        for r, ok in zip(results, oks, strict=True):
            self._recorded(r, ok)
        return [None] * len(results)

    async def _record_alone(self, r: _Result) -> BaseException | None:
        try:
            async with self.db.write() as s:
                ok = await self._mark(s, r)
        except Exception as exc:
            log.warning("推送 #%s 的发送结果未能写入数据库", r.row.id)
            return exc
        self._recorded(r, ok)
        return None

    @staticmethod
    async def _mark(s: AsyncSession, r: _Result) -> bool:
        assert r.row.id is not None
        return bool(await r.mark(s, r.row.id, r.token, *r.args))

    @staticmethod
    def _recorded(r: _Result, ok: bool) -> None:
        status, counted = _OUTCOMES[r.mark]
        setattr(r.report, counted, getattr(r.report, counted) + 1)
        # One line per push, with its ids (never the webhook: its key is a secret).
        log.info(
            "push",
            extra={
                "status": status,
                "platform": r.target.platform if r.target is not None else "-",
                "outbox_id": r.row.id,
                "key": r.row.key,
            },
        )
        if not ok:
            # The lease ran out and another worker took the row over.
            r.report.lost_claims += 1
            log.warning("推送 #%s 的认领在记录结果前已被另一进程接管", r.row.id)

    async def _target(
        self, session: SessionOpener, row: Outbox, by_id: dict[int | None, ClaimedGroup]
    ) -> _Target | None:
        if row.group_id is not None:
            group = by_id.get(row.group_id)
            return (
                None
                if group is None
                else _Target(group.platform, self.group_target(group), label=group.name)
            )
        if row.member_id is not None:
            # A direct push goes out on the first platform of the member's that can send.
            accounts = await reminders.accounts_of_member(await session(), row.member_id)
            for acc in accounts:
                if acc.platform in self.transports:
                    return _Target(acc.platform, user_id=acc.external_id, label=acc.external_id)
            if accounts:
                return _Target(accounts[0].platform, user_id=accounts[0].external_id)
            # Said in full so the operator knows whom to ask and what to do about it.
            who = await outbox.member_name(await session(), row.member_id) or "此人"
            platforms = "或".join(PLATFORM_NAMES.get(p, p) for p in self.transports) or "企业微信"
            problem = f"{who} 没有绑定{platforms}账号，请在群里发「绑定」或由管理员导入账号"
            return _Target("", problem=problem)
        return None

    def group_target(self, group: Group | ClaimedGroup) -> GroupTarget:
        """The group with its webhook and secret from the config entry that names it."""
        key = (group.platform, group.chat_id, group.name)
        found = self._targets.get(key)
        if found is None:
            found = self._targets[key] = self._group_target(group)
        return found

    def _group_target(self, group: Group | ClaimedGroup) -> GroupTarget:
        g = self._configured.get((group.platform, group.chat_id))
        if g is None:
            return GroupTarget(platform=group.platform, chat_id=group.chat_id, name=group.name)
        return GroupTarget(
            platform=group.platform,
            chat_id=g.chat_id,
            name=g.name,
            webhook=g.webhook.get_secret_value(),
            secret=g.secret.get_secret_value(),
        )
