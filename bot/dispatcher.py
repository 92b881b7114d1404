"""One incoming message, start to finish: dedupe, identify, route, record the reply.

Each message is one write transaction: its reply waits for the commit that makes it true,
and a message that fails rolls back alone.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import datetime

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.context import Context, Services
from bot.messages import IncomingMessage, Reply
from bot.router import Router
from storage import groups, inbound, members
from storage.engine import Database

log = logging.getLogger(__name__)

BUSY_REPLY = "抱歉，系统暂时繁忙，请稍后再发一次。"
ERROR_REPLY = "抱歉，处理时出错了，已记录，请稍后再试或联系管理员。"


class _LostRace(Exception):
    """A twin of this message (a platform retry, another replica) committed first."""


class Dispatcher:
    def __init__(self, db: Database, router: Router, services: Services) -> None:
        self.db = db
        self.router = router
        self.services = services
        self._running: set[asyncio.Task[Reply]] = set()  # references, so none is collected

    async def handle(self, msg: IncomingMessage) -> Reply:
        """The reply to `msg`; the same message id always gets the same reply."""
        return await self.submit(msg)

    def submit(self, msg: IncomingMessage) -> asyncio.Future[Reply]:
        """Start handling `msg`; the future gets its reply. Cancelling the future does not
        stop the message being handled: it only drops the reply."""
        task = asyncio.create_task(self._one(msg))
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        return asyncio.shield(task)

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
        prior = await inbound.reply_to(s, msg.platform, msg.message_id)
        if prior is not None:
            return _repeated(prior)
        member, branch = await members.member_and_branch_by_account(s, msg.platform, msg.sender_id)
        ctx = Context(
            msg=msg,
            session=s,
            services=self.services,
            now=now,
            member=member,
            branch=branch,
        )
        if msg.chat_type == "group":
            ctx.group = await groups.group_by_chat(s, msg.platform, msg.chat_id)
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
        log.error("database unavailable for %s: %s", what, cause[:200])


def _repeated(prior: str) -> Reply:
    """The reply recorded for an earlier delivery, marked as such."""
    reply = Reply.from_json(prior) if prior else Reply(BUSY_REPLY)
    return replace(reply, repeated=True)
