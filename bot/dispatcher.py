"""One incoming message, start to finish: dedupe, identify, route, record the reply.

Every reply waits for the commit that makes it true. On SQLite, messages that arrive
together share one write transaction ("group commit"): SQLite has one writer at a time,
and a transaction's own cost (its BEGIN, COMMIT, session and connection checkout) is a
third of a 签到's. If anything in a batch fails, the batch rolls back and each of its
messages is handled again alone, so one bad message costs the others only time. Handlers
write nothing but rows (pushes go to the outbox), so running one again is safe.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import datetime

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.batching import Batches
from bot.context import Context, Services
from bot.messages import IncomingMessage, Reply
from bot.router import Router, split_command
from handlers.minutes import attach_image
from storage import arrivals, inbound
from storage.engine import Database

log = logging.getLogger(__name__)

BUSY_REPLY = "抱歉，系统暂时繁忙，请稍后再发一次。"
ERROR_REPLY = "抱歉，处理时出错了，已记录，请稍后再试或联系管理员。"
# A batch's first reply waits for the whole batch: 64 check-ins are ~0.1 s.
MAX_BATCH = 64


class _LostRace(Exception):
    """A twin of this message (a platform retry, another replica) committed first."""


class Dispatcher:
    def __init__(self, db: Database, router: Router, services: Services) -> None:
        self.db = db
        self.router = router
        self.services = services
        self._running: set[asyncio.Task[Reply]] = set()  # references, so none is collected
        # SQLite: messages that arrive together share a transaction.
        self.batches: Batches[IncomingMessage, Reply] = Batches(
            self._together, MAX_BATCH, lambda _: Reply(BUSY_REPLY)
        )

    async def handle(self, msg: IncomingMessage) -> Reply:
        """The reply to `msg`; the same message id always gets the same reply."""
        return await self.submit(msg)

    def submit(self, msg: IncomingMessage) -> asyncio.Future[Reply]:
        """Start handling `msg`; the future gets its reply. Cancelling the future does not
        stop the message being handled: it only drops the reply."""
        if self.db.is_sqlite:
            return self.batches.submit(msg)
        # PostgreSQL takes writers side by side; a batch there would only widen what a
        # replica's concurrent twin of a message can collide with.
        task = asyncio.create_task(self._one(msg))
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        return asyncio.shield(task)

    async def _together(self, batch: list[IncomingMessage]) -> list[Reply]:
        ids = {(msg.platform, msg.message_id) for msg in batch}
        if len(batch) == 1 or len(ids) < len(batch):  # twins in one batch: one at a time
            return [await self._one(msg) for msg in batch]
        try:
            async with self.db.write() as s:
                return [await self._process(s, msg) for msg in batch]
        except IntegrityError:
            pass  # someone's twin got in first: sort it out one message at a time
        except DBAPIError as exc:
            # The database itself is unavailable: trying each again would only wait longer.
            self._log_unavailable(exc, f"{len(batch)} messages")
            return [Reply(BUSY_REPLY) for _ in batch]
        except Exception:
            pass  # the culprit logs its traceback when it runs alone below
        return [await self._one(msg) for msg in batch]

    async def _one(self, msg: IncomingMessage) -> Reply:
        try:
            return await self._alone(msg)
        except Exception:
            # Never leave a caller waiting: the adapters await these futures directly.
            log.exception("dispatcher failed on %s message %s", msg.platform, msg.message_id)
            return Reply(ERROR_REPLY)

    async def _alone(self, msg: IncomingMessage) -> Reply:
        try:
            async with self.db.write() as s:
                return await self._process(s, msg)
        except (IntegrityError, _LostRace):
            # On PostgreSQL a concurrent twin of this message can trip a unique key in the
            # handler's own writes; it has committed by now, so its reply is the answer.
            earlier = await self._recorded_reply(msg)
            if earlier is not None:
                return earlier
            log.exception("conflicting write for %s message %s", msg.platform, msg.message_id)
            return Reply(ERROR_REPLY)
        except DBAPIError as exc:
            self._log_unavailable(exc, f"{msg.platform} message {msg.message_id}")
            return Reply(BUSY_REPLY)
        except Exception:
            log.exception("handler failed for %s message %s", msg.platform, msg.message_id)
            return Reply(ERROR_REPLY)

    async def _process(self, s: AsyncSession, msg: IncomingMessage) -> Reply:
        now: datetime = self.services.clock.now()
        group_chat = msg.chat_id if msg.chat_type == "group" else None
        found = await arrivals.arrival(s, msg.platform, msg.message_id, msg.sender_id, group_chat)
        if found.prior_reply is not None:
            return _repeated(found.prior_reply)
        ctx = Context(
            msg=msg,
            session=s,
            services=self.services,
            now=now,
            member=found.member,
            branch=found.branch,
            group=found.group,
        )
        if msg.image and self.router.match(split_command(msg.text)[0]) is None:
            # A picture alone, or with words that are no command (a caption such as
            # "会议现场"): for a meeting's 纪要. With a command, the command has it.
            reply = await attach_image(ctx)
        else:
            reply = await self.router.dispatch(ctx)
        # The id is recorded last, with its reply, in the same transaction as the handler's
        # writes: a twin that got here first makes this one roll back whole.
        recorded = await inbound.record(
            s,
            msg.platform,
            msg.message_id,
            msg.sender_id,
            now,
            reply.to_json(),
            now if msg.reply_apart else None,  # its first handler sends the reply
        )
        if not recorded:
            raise _LostRace
        return reply

    async def _recorded_reply(self, msg: IncomingMessage) -> Reply | None:
        async with self.db.read() as s:
            prior = await inbound.reply_to(s, msg.platform, msg.message_id)
        return _repeated(prior) if prior else None

    # -- a reply sent apart from the platform's answer goes out once per message id --------

    async def claim_delivery(self, msg: IncomingMessage) -> bool:
        """Whether this caller is the one to send `msg`'s reply apart from the platform's
        answer (a late reply, a re-delivered long-connection message): True once per
        message id, across replicas, until `release_delivery`."""
        try:
            async with self.db.write() as s:
                return await inbound.claim_delivery(
                    s, msg.platform, msg.message_id, self.services.clock.now()
                )
        except DBAPIError as exc:
            # Better a reply twice than none: the database cannot tell us either way.
            self._log_unavailable(exc, f"delivery claim of {msg.platform} {msg.message_id}")
            return True

    async def release_delivery(self, msg: IncomingMessage) -> None:
        """The reply did not go out after all: a re-delivery of `msg` may send it."""
        try:
            async with self.db.write() as s:
                await inbound.release_delivery(s, msg.platform, msg.message_id)
        except DBAPIError as exc:
            self._log_unavailable(exc, f"delivery release of {msg.platform} {msg.message_id}")

    async def delivered(self, msg: IncomingMessage) -> bool:
        """Whether `msg`'s reply already went out apart from the platform's answer."""
        try:
            async with self.db.read() as s:
                return await inbound.delivered(s, msg.platform, msg.message_id)
        except DBAPIError as exc:
            self._log_unavailable(exc, f"delivery check of {msg.platform} {msg.message_id}")
            return False

    @staticmethod
    def _log_unavailable(exc: DBAPIError, what: str) -> None:
        cause = str(exc.orig) if exc.orig is not None else type(exc).__name__
        log.error("数据库不可用（%s）：%s", what, cause[:200])


def _repeated(prior: str) -> Reply:
    """The reply recorded for an earlier delivery, marked as such."""
    reply = Reply.from_json(prior) if prior else Reply(BUSY_REPLY)
    return replace(reply, repeated=True)
