"""One replica per bot connection: a lease in the shared database."""

from __future__ import annotations

import logging
import os
import socket
import uuid
from datetime import datetime, timedelta

from bot.clock import Clock
from storage import leases
from storage.engine import Database

log = logging.getLogger(__name__)

# Renewed every TTL/3; a replica that dies is replaced within TTL plus one poll (< 1 min).
DEFAULT_TTL = timedelta(seconds=30)


def replica_id() -> str:
    """This process's name as a lease holder: host, pid and a random tail."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Lease:
    """The lease on one name, as seen by one holder."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        name: str,
        holder: str,
        ttl: timedelta = DEFAULT_TTL,
    ) -> None:
        self.db = db
        self.clock = clock
        self.name = name
        self.holder = holder
        self.ttl = ttl
        self.held = False
        self._valid_until: datetime | None = None

    @property
    def renew_every(self) -> float:
        return self.ttl.total_seconds() / 3

    async def acquire(self) -> bool:
        """Take or renew the lease; False while another replica holds it."""
        now = self.clock.now()
        try:
            async with self.db.write() as s:
                got = await leases.acquire(s, self.name, self.holder, now, self.ttl)
        except Exception as exc:  # a database hiccup; what we hold stays ours until it expires
            log.warning("租约 %s：数据库错误 %s", self.name, type(exc).__name__)
            got = self.held and self._valid_until is not None and now < self._valid_until
        else:
            if got:
                self._valid_until = now + self.ttl
        if got != self.held:
            log.info("租约 %s 已被 %s %s", self.name, self.holder, "取得" if got else "失去")
        self.held = got
        return got

    async def release(self) -> None:
        if not self.held:
            return
        self.held = False
        try:
            async with self.db.write() as s:
                await leases.release(s, self.name, self.holder, self.clock.now())
            log.info("租约 %s 已由 %s 释放", self.name, self.holder)
        except Exception as exc:  # it will expire on its own
            log.warning("租约 %s：释放失败（到期后自动失效）：%s", self.name, type(exc).__name__)
