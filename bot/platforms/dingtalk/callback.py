"""The enterprise robot's callback payload, read into a typed record."""

from __future__ import annotations

from typing import Any, NamedTuple

from bot.messages import IncomingMessage
from bot.platforms.payload import json_object

PLATFORM = "dingtalk"
TEXT_MAX = 4000  # longer "commands" are not commands; refuse rather than route them
IMAGE_MAX = 1000  # what a meeting note keeps (storage.models.MeetingNote.image)


class BadPayload(ValueError):
    """A body that is not a DingTalk robot message."""


class RobotMessage(NamedTuple):  # immutable and cheap to build, like IncomingMessage
    msg_id: str
    msgtype: str
    conversation_id: str
    is_group: bool
    conversation_title: str
    sender_id: str  # staffId when DingTalk gives one, else the opaque senderId
    sender_is_staff: bool
    sender_nick: str
    text: str
    session_webhook: str
    session_webhook_expires_ms: int
    robot_code: str
    at_staff_ids: tuple[str, ...]  # the people @-ed besides the robot
    # A picture's downloadCode (the robot API turns it into a file URL for an hour): a
    # picture message (direct chats) or the first picture of a richText (how one reaches
    # the robot in a group, with the @). "" for none.
    image: str = ""

    @property
    def routed(self) -> bool:
        """Text, or a picture (with any words): what goes to the dispatcher."""
        return self.msgtype == "text" or bool(self.image)

    def incoming(self) -> IncomingMessage:
        return IncomingMessage(
            platform=PLATFORM,
            message_id=self.msg_id,
            chat_type="group" if self.is_group else "direct",
            chat_id=self.conversation_id if self.is_group else self.sender_id,
            sender_id=self.sender_id,
            text=self.text,
            sender_name=self.sender_nick,
            chat_title=self.conversation_title,
            image=self.image,
        )


def _str(data: dict[str, Any], key: str, *, required: bool = False, limit: int = 256) -> str:
    value = data.get(key, "")
    if value is None:
        value = ""
    if not isinstance(value, str) or len(value) > limit:
        raise BadPayload(f"{key} is not a short string")
    if required and not value.strip():
        raise BadPayload(f"{key} is missing")
    return value


def parse(raw: bytes) -> RobotMessage:
    """Read a callback body; BadPayload when it is not one."""
    try:
        data = json_object(raw)
    except ValueError as exc:
        raise BadPayload(str(exc)) from None
    conversation_type = _str(data, "conversationType", required=True)
    if conversation_type not in ("1", "2"):
        raise BadPayload("unknown conversationType")
    staff_id = _str(data, "senderStaffId")
    sender = staff_id or _str(data, "senderId", required=True)
    msgtype = _str(data, "msgtype", required=True, limit=32)
    text = image = ""
    if msgtype == "text":
        body = data.get("text")
        if not isinstance(body, dict):
            raise BadPayload("text is missing")
        text = _str(body, "content", limit=TEXT_MAX)
    elif msgtype in ("picture", "richText"):
        text, image = _picture(data.get("content"), msgtype)
    expires = data.get("sessionWebhookExpiredTime", 0)
    if not isinstance(expires, int) or isinstance(expires, bool):
        raise BadPayload("sessionWebhookExpiredTime is not a number")
    webhook = _str(data, "sessionWebhook", limit=1024)
    if webhook and not webhook.startswith(("https://", "http://")):
        raise BadPayload("sessionWebhook is not a URL")
    robot_user = _str(data, "chatbotUserId")
    at_users = data.get("atUsers") or []
    if not isinstance(at_users, list):
        raise BadPayload("atUsers is not a list")
    at_staff = []
    for user in at_users:
        if not isinstance(user, dict):
            raise BadPayload("atUsers entry is not an object")
        if robot_user and user.get("dingtalkId") == robot_user:
            continue
        staff = user.get("staffId")
        if isinstance(staff, str) and staff:
            at_staff.append(staff)
    return RobotMessage(
        msg_id=_str(data, "msgId", required=True),
        msgtype=msgtype,
        conversation_id=_str(data, "conversationId", required=True),
        is_group=conversation_type == "2",
        conversation_title=_str(data, "conversationTitle", limit=200)[:100],
        sender_id=sender,
        sender_is_staff=bool(staff_id),
        sender_nick=_str(data, "senderNick")[:64],
        text=text,
        session_webhook=webhook,
        session_webhook_expires_ms=expires,
        robot_code=_str(data, "robotCode"),
        at_staff_ids=tuple(at_staff),
        image=image,
    )


def _picture(content: object, msgtype: str) -> tuple[str, str]:
    """(words, downloadCode) of a picture or richText message; odd shapes give ("", "")."""
    if not isinstance(content, dict):
        return "", ""
    if msgtype == "picture":
        parts: list[object] = [content]
    else:
        items = content.get("richText")
        parts = items if isinstance(items, list) else []
    words: list[str] = []
    image = ""
    for part in parts:
        if not isinstance(part, dict):
            continue
        said = part.get("text")
        if isinstance(said, str):
            words.append(said)
        code = part.get("downloadCode") or part.get("pictureDownloadCode")
        if not image and isinstance(code, str) and 0 < len(code) <= IMAGE_MAX:
            image = code
    text = " ".join(words)
    return (text if len(text) <= TEXT_MAX else ""), image
