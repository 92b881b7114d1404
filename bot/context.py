"""What a handler gets: the message, the sender, the session, and the app's services."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.clock import Clock
from bot.config import BranchCheckin, Settings
from bot.messages import IncomingMessage, Reply
from storage.models import Branch, Group, Member, Role

if TYPE_CHECKING:
    from schedules.holidays import HolidayCalendar


class Pusher(Protocol):
    """Queues a push to a branch's groups in the outbox (same transaction as the caller)."""

    async def to_branch_groups(
        self, session: AsyncSession, branch_id: int | None, kind: str, key: str, message: Reply
    ) -> int: ...


@dataclass(frozen=True)
class Services:
    """App-wide resources, registered once and handed to every handler."""

    settings: Settings
    clock: Clock
    calendar: HolidayCalendar
    pusher: Pusher | None = None

    @cached_property
    def _checkin(self) -> dict[str, BranchCheckin]:
        return {}

    def checkin_of(self, branch: str) -> BranchCheckin:
        """The branch's daily check-in rules, resolved once: reading them off the pydantic
        settings costs ~1,300 instructions an attribute, on every 签到."""
        found = self._checkin.get(branch)
        if found is None:
            found = self._checkin[branch] = self.settings.checkin_of(branch)
        return found


@dataclass
class Context:
    msg: IncomingMessage
    session: AsyncSession
    services: Services
    now: datetime  # fixed for the whole message, aware UTC
    member: Member | None = None
    branch: Branch | None = None  # the sender's branch
    group: Group | None = None  # the group the message came from, if the bot knows it

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def local_now(self) -> datetime:
        return self.now.astimezone(self.services.clock.tz)

    @property
    def today(self) -> date:
        return self.local_now.date()

    @cached_property
    def role(self) -> Role | None:
        return Role(self.member.role) if self.member else None

    def require_member(self) -> Member:
        assert self.member is not None, "router checks binding before member commands"
        return self.member
