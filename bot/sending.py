"""What a platform adapter offers for sending pushes, and how it reports failure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bot.messages import Reply


@dataclass(frozen=True)
class GroupTarget:
    """A group to push to, with what its platform needs (from the config; may be secret)."""

    platform: str
    chat_id: str
    name: str = ""
    webhook: str = ""
    secret: str = ""


class SendError(Exception):
    """A push that did not go out.

    `permanent` failures keep their reason and are not retried; transient ones are retried,
    no sooner than `retry_after` seconds when the platform asked for a pause.
    """

    def __init__(self, reason: str, *, permanent: bool, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.retry_after = retry_after


class Transport(Protocol):
    """A platform's sending side."""

    platform: str

    async def send_group(self, target: GroupTarget, message: Reply) -> None:
        """Push to a group; raise SendError when it does not go out."""
        ...

    async def send_direct(self, user_id: str, message: Reply) -> None:
        """Push to one person; raise SendError when it does not go out."""
        ...
