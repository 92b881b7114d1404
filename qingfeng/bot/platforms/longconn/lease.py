"""One replica per bot connection: a lease in the shared database."""

from __future__ import annotations

import logging
import os
import socket
import uuid
from datetime import timedelta

from qingfeng.bot.clock import Clock
from qingfeng.storage import leases
from qingfeng.storage.engine import Database

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

    @property
    def renew_every(self) -> float:
        return self.ttl.total_seconds() / 3

    async def acquire(self) -> bool:
        """Take or renew the lease; False while another replica holds it."""
        try:
            async with self.db.write() as s:
                got = await leases.acquire(s, self.name, self.holder, self.clock.now(), self.ttl)
        except Exception as exc:  # a database hiccup: treat as not held, try again later
            log.warning("lease %s: database error %s", self.name, type(exc).__name__)
            got = False
        if got != self.held:
            log.info("lease %s %s by %s", self.name, "taken" if got else "lost", self.holder)
        self.held = got
        return got

    async def release(self) -> None:
        if not self.held:
            return
        self.held = False
        try:
            async with self.db.write() as s:
                await leases.release(s, self.name, self.holder, self.clock.now())
            log.info("lease %s released by %s", self.name, self.holder)
        except Exception as exc:  # it will expire on its own
            log.warning("lease %s: release failed: %s", self.name, type(exc).__name__)
