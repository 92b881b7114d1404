"""One incoming message, start to finish: dedupe, identify, route, record the reply."""

from __future__ import annotations

import logging

from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from qingfeng.bot.context import Context, Services
from qingfeng.bot.messages import IncomingMessage, Reply
from qingfeng.bot.router import Router
from qingfeng.storage import groups, inbound, members
from qingfeng.storage.engine import Database

log = logging.getLogger(__name__)

BUSY_REPLY = "抱歉，系统暂时繁忙，请稍后再发一次。"
ERROR_REPLY = "抱歉，处理时出错了，已记录，请稍后再试或联系管理员。"


class _SeenBefore(Exception):
    pass


class Dispatcher:
    def __init__(self, db: Database, router: Router, services: Services) -> None:
        self.db = db
        self.router = router
        self.services = services

    async def handle(self, msg: IncomingMessage) -> Reply:
        """The reply to `msg`; the same message id always gets the same reply."""
        try:
            return await self._handle_once(msg)
        except _SeenBefore:
            return await self._earlier_reply(msg)
        except IntegrityError:
            # On PostgreSQL a concurrent twin of this message can trip a unique key in the
            # handler's own writes; it has committed by now, so its reply is the answer.
            earlier = await self._recorded_reply(msg)
            if earlier is not None:
                return earlier
            log.exception("conflicting write for %s message %s", msg.platform, msg.message_id)
            return Reply(ERROR_REPLY)
        except (OperationalError, DBAPIError) as exc:
            cause = str(exc.orig) if exc.orig is not None else type(exc).__name__
            log.error(
                "database unavailable for %s message %s: %s",
                msg.platform,
                msg.message_id,
                cause[:200],
            )
            return Reply(BUSY_REPLY)
        except Exception:
            log.exception("handler failed for %s message %s", msg.platform, msg.message_id)
            return Reply(ERROR_REPLY)

    async def _handle_once(self, msg: IncomingMessage) -> Reply:
        now = self.services.clock.now()
        async with self.db.write() as s:
            if await inbound.find(s, msg.platform, msg.message_id) is not None:
                raise _SeenBefore
            member, branch = await members.member_and_branch_by_account(
                s, msg.platform, msg.sender_id
            )
            ctx = Context(
                msg=msg, session=s, services=self.services, now=now, member=member, branch=branch
            )
            if msg.chat_type == "group":
                ctx.group = await groups.group_by_chat(s, msg.platform, msg.chat_id)
            reply = await self.router.dispatch(ctx)
            # The id is recorded last, with its reply, in the same transaction as the
            # handler's writes: a twin that got here first makes this one roll back whole.
            recorded = await inbound.record(
                s, msg.platform, msg.message_id, msg.sender_id, now, reply.to_json()
            )
            if not recorded:
                raise _SeenBefore
        return reply

    async def _earlier_reply(self, msg: IncomingMessage) -> Reply:
        return await self._recorded_reply(msg) or Reply(BUSY_REPLY)

    async def _recorded_reply(self, msg: IncomingMessage) -> Reply | None:
        async with self.db.read() as s:
            prior = await inbound.find(s, msg.platform, msg.message_id)
        if prior is None or not prior.reply:
            return None
        return Reply.from_json(prior.reply)
