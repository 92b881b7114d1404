"""WeCom 智能机器人 payloads (the same JSON as the HTTP callback) into IncomingMessage.

Kept small and separate so it can be shared with the callback adapter.
"""

from __future__ import annotations

from typing import Any

from qingfeng.bot.messages import IncomingMessage

TEXT_MAX = 4000  # longer "commands" are not commands


def _get(data: object, *path: str) -> object:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def wecom_incoming(body: dict[str, Any]) -> IncomingMessage | None:
    """A 智能机器人 message (text, voice transcript or mixed); None for other kinds."""
    msgid, sender = _str(body.get("msgid")), _str(_get(body, "from", "userid"))
    msgtype = body.get("msgtype")
    if msgtype in ("text", "voice"):
        text = _str(_get(body, msgtype, "content"))
    elif msgtype == "mixed":
        items = _get(body, "mixed", "msg_item")
        items = items if isinstance(items, list) else []
        words = [_str(_get(i, "text", "content")) for i in items]
        text = " ".join(w for w in words if w)
    else:
        text = ""
    if not msgid or not sender or not text or len(text) > TEXT_MAX:
        return None
    group = body.get("chattype") == "group"
    return IncomingMessage(
        platform="wecom",
        message_id=msgid,
        chat_type="group" if group else "direct",
        chat_id=(_str(body.get("chatid")) or sender) if group else sender,
        sender_id=sender,
        text=text,
    )
