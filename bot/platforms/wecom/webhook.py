"""Message bodies for the 群机器人 webhook and the app's `message/send`, within byte limits."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from bot.messages import Reply
from bot.platforms.wecom.splitting import split_text, utf8_len

WEBHOOK_TEXT_LIMIT = 2048
WEBHOOK_MARKDOWN_LIMIT = 4096
APP_TEXT_LIMIT = 2048  # message/send: text and markdown alike
IMAGE_LIMIT = 2 * 1024 * 1024  # before base64


class TooLarge(ValueError):
    pass


def webhook_payloads(reply: Reply) -> list[dict[str, Any]]:
    """The webhook messages for one push: the text in pieces, then the image if any.

    Text @-mentions go in `mentioned_list` of the first piece; markdown ones as `<@userid>`
    (the webhook's markdown has no mentioned_list).
    """
    out: list[dict[str, Any]] = []
    ids = [m.external_id for m in reply.mentions if m.external_id]
    if reply.text.strip():
        if reply.markdown:
            suffix = "\n" + " ".join(f"<@{i}>" for i in ids) if ids else ""
            pieces = split_text(reply.text, WEBHOOK_MARKDOWN_LIMIT - utf8_len(suffix))
            pieces[0] += suffix
            out += [{"msgtype": "markdown", "markdown": {"content": p}} for p in pieces]
        else:
            pieces = split_text(reply.text, WEBHOOK_TEXT_LIMIT)
            out += [{"msgtype": "text", "text": {"content": p}} for p in pieces]
            if ids:
                out[0]["text"]["mentioned_list"] = ids
    if reply.image_png:
        out.append(image_payload(reply.image_png))
    return out


def image_payload(png: bytes) -> dict[str, Any]:
    if len(png) > IMAGE_LIMIT:
        raise TooLarge(f"图片 {len(png)} 字节，超过企业微信 2 MB 上限")
    return {
        "msgtype": "image",
        "image": {"base64": base64.b64encode(png).decode(), "md5": hashlib.md5(png).hexdigest()},
    }


def app_messages(reply: Reply) -> list[tuple[str, dict[str, Any]]]:
    """(msgtype, body) pairs for `message/send` to one person.

    Images would need a media upload first; a direct push carries its text only.
    """
    kind = "markdown" if reply.markdown else "text"
    return [(kind, {"content": p}) for p in split_text(reply.text, APP_TEXT_LIMIT) if p.strip()]
