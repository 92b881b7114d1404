"""A Transport for tests: records what it was asked to send and can be told to fail."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field

from bot.messages import Reply
from bot.sending import GroupTarget, SendError


@dataclass
class Sent:
    to: str  # chat id or user id
    text: str
    mentions: tuple[str, ...] = ()
    direct: bool = False
    target: GroupTarget | None = None


@dataclass
class RecordingTransport:
    platform: str = "wecom"
    sent: list[Sent] = field(default_factory=list)
    # Errors to raise, in order, before sends succeed again.
    failures: list[SendError] = field(default_factory=list)
    # After this many successful sends, block forever (a process about to be killed).
    hang_after: int | None = None
    hung: asyncio.Event = field(default_factory=asyncio.Event)  # set when a send blocks
    _never: asyncio.Event = field(default_factory=asyncio.Event)
    # Seconds a send takes (a real post takes a few ms): other workers run meanwhile.
    delay: float = 0.0

    async def _send(self, item: Sent) -> None:
        await asyncio.sleep(self.delay)  # let other workers interleave
        if self.hang_after is not None and len(self.sent) >= self.hang_after:
            self.hung.set()
            await self._never.wait()
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(item)

    async def send_group(self, target: GroupTarget, message: Reply) -> None:
        mentions = tuple(m.external_id for m in message.mentions)
        await self._send(Sent(target.chat_id, message.text, mentions, target=target))

    async def send_direct(self, user_id: str, message: Reply) -> None:
        await self._send(Sent(user_id, message.text, direct=True))

    def to(self, who: str) -> list[str]:
        return [s.text for s in self.sent if s.to == who]

    def counts(self) -> Counter[str]:
        return Counter(s.to for s in self.sent)
