"""Reading a 智能机器人 message payload: the same JSON arrives by HTTP callback and by the
long connection, so both read it here."""

from __future__ import annotations

from typing import Any

from bot.messages import IncomingMessage

TEXT_MAX = 4000  # longer "commands" are not commands
IMAGE_URL_MAX = 1000  # what a meeting note keeps (storage.models.MeetingNote.image)


def get_path(data: object, *path: str) -> object:
    """data[path[0]][path[1]]..., or None where the shape differs."""
    node = data
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def ids_of(payload: dict[str, Any]) -> tuple[str, str] | None:
    """(msgid, sender userid), or None when either is missing."""
    msgid, sender = payload.get("msgid"), get_path(payload, "from", "userid")
    if isinstance(msgid, str) and msgid and isinstance(sender, str) and sender:
        return msgid, sender
    return None


def text_of(payload: dict[str, Any]) -> str | None:
    """The words of a text, voice (transcribed) or mixed message; None for other kinds."""
    msgtype = payload.get("msgtype")
    text: object = None
    if msgtype in ("text", "voice"):
        text = get_path(payload, msgtype, "content")
    elif msgtype == "mixed":
        items = get_path(payload, "mixed", "msg_item")
        if isinstance(items, list):
            words = [get_path(i, "text", "content") for i in items]
            text = " ".join(w for w in words if isinstance(w, str))
    if not isinstance(text, str) or not text or len(text) > TEXT_MAX:
        return None
    return text


def image_of(payload: dict[str, Any]) -> str:
    """The picture's URL: of an image message (single chats only) or the first image of a
    mixed one (图文混排, how a picture reaches the bot in a group: @ and an image); "" for
    none. WeCom's URL serves the picture encrypted with the bot's key, for 5 minutes."""
    msgtype = payload.get("msgtype")
    url: object = None
    if msgtype == "image":
        url = get_path(payload, "image", "url")
    elif msgtype == "mixed":
        items = get_path(payload, "mixed", "msg_item")
        if isinstance(items, list):
            urls = [get_path(i, "image", "url") for i in items if get_path(i, "msgtype") == "image"]
            url = next((u for u in urls if isinstance(u, str)), None)
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        return ""
    return url if len(url) <= IMAGE_URL_MAX else ""


def incoming(
    payload: dict[str, Any], msgid: str, sender: str, text: str, image: str = ""
) -> IncomingMessage:
    """The platform-neutral message; a group chat is its chatid, a single chat the sender."""
    group = payload.get("chattype") == "group"
    chat_id = payload.get("chatid") if group else sender
    return IncomingMessage(
        platform="wecom",
        message_id=msgid,
        chat_type="group" if group else "direct",
        chat_id=chat_id if isinstance(chat_id, str) and chat_id else sender,
        sender_id=sender,
        text=text,
        image=image,
    )
