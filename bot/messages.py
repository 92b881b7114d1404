"""The platform-neutral message model: the only types that cross from bot/ into handlers/."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from bot import jsoncodec

ChatType = Literal["group", "direct"]


class IncomingMessage(NamedTuple):
    """One text message (or picture) from a person, already verified and parsed by its adapter.

    A NamedTuple, not a frozen dataclass: as immutable, and built in a third of the time
    (a frozen dataclass sets each field through object.__setattr__), once per message."""

    platform: str  # "wecom", "dingtalk", "console"
    message_id: str
    chat_type: ChatType
    chat_id: str  # the group's id; for a direct chat, the sender's id
    sender_id: str  # the platform's user id (WeCom userid, DingTalk staffId)
    text: str
    sender_name: str = ""
    chat_title: str = ""
    # The reply goes out apart from the platform's answer, every time (a long connection):
    # the dispatcher then records the message as delivered by its first handler, so a
    # re-delivery gets nothing more, without a write of its own.
    reply_apart: bool = False
    # A picture sent with or as the message: the URL or download code the platform gave
    # ("" for none); handlers.minutes attaches it to a meeting's 纪要.
    image: str = ""


@dataclass(frozen=True)
class Mention:
    """Someone to @ in a reply or push: their id on the target platform and their name."""

    external_id: str
    name: str


@dataclass(frozen=True)
class Reply:
    """What the bot says: a reply to a message, or the body of a push."""

    text: str
    mentions: tuple[Mention, ...] = ()
    markdown: bool = False
    image_png: bytes | None = field(default=None, repr=False)
    # Set by the dispatcher on the reply recorded for an earlier delivery of the same
    # message id: the platform re-delivered it, and the reply may have gone out already.
    repeated: bool = field(default=False, compare=False)

    def to_json(self) -> str:
        """Serialise for the inbound record and the outbox (images are not kept)."""
        mentions = [{"external_id": m.external_id, "name": m.name} for m in self.mentions]
        data = {"text": self.text, "mentions": mentions, "markdown": self.markdown}
        return jsoncodec.dumps(data)

    @classmethod
    def from_json(cls, raw: str) -> Reply:
        return cls.from_data(jsoncodec.loads(raw))

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Reply:
        """From `to_json`'s object, already parsed."""
        mentions = tuple(Mention(**m) for m in data.get("mentions", ()))
        return cls(text=data["text"], mentions=mentions, markdown=data.get("markdown", False))
