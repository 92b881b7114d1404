"""A Reply as the JSON bodies DingTalk takes: webhook / HTTP response, and OpenAPI msgParam."""

from __future__ import annotations

import json
from typing import Any

from bot.messages import Mention, Reply
from bot.platforms.dingtalk.markdown import title_of, to_phone_markdown


def _with_at(text: str, mentions: tuple[Mention, ...]) -> str:
    # DingTalk only highlights and notifies an @ when "@staffId" also appears in the text.
    if not mentions:
        return text
    return " ".join(f"@{m.external_id}" for m in mentions) + "\n" + text


def webhook_body(reply: Reply) -> dict[str, Any]:
    """The body for a custom robot webhook, a sessionWebhook or the callback's response."""
    ids = list(dict.fromkeys(m.external_id for m in reply.mentions if m.external_id))
    text = _with_at(reply.text, reply.mentions)
    body: dict[str, Any]
    if reply.markdown:
        md = to_phone_markdown(text)
        body = {"msgtype": "markdown", "markdown": {"title": title_of(reply.text), "text": md}}
    else:
        body = {"msgtype": "text", "text": {"content": text}}
    body["at"] = {"atUserIds": ids, "isAtAll": False}
    return body


def openapi_message(reply: Reply) -> tuple[str, str]:
    """(msgKey, msgParam as a JSON string) for the robot OpenAPI send calls.

    Those APIs cannot @ anyone, so mentions are written out by name instead.
    """
    text = reply.text
    if reply.mentions:
        text = " ".join(f"@{m.name or m.external_id}" for m in reply.mentions) + "\n" + text
    if reply.markdown:
        param = {"title": title_of(reply.text), "text": to_phone_markdown(text)}
        return "sampleMarkdown", json.dumps(param, ensure_ascii=False)
    return "sampleText", json.dumps({"content": text}, ensure_ascii=False)
