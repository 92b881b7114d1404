"""The console platform: the demo's prompt, where pushes and replies print to the terminal."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from bot.messages import Reply
from bot.sending import GroupTarget

BOT_NAME = "清风"


def render(reply: Reply) -> str:
    """A reply as a group member would see it: the @mentions first, then the text."""
    text = reply.text
    if reply.mentions:
        text = " ".join(f"@{m.name}" for m in reply.mentions) + "\n" + text
    if reply.image_png:
        text += f"\n[图片 {len(reply.image_png)} 字节]"
    return text


def indent(text: str, prefix: str = "  ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


class ConsoleTransport:
    """Pushes print to the terminal, labelled with their target."""

    platform = "console"

    def __init__(self, out: Callable[[str], None]) -> None:
        self._out = out

    async def send_group(self, target: GroupTarget, message: Reply) -> None:
        self._out(f"📢 [推送 → {target.name or target.chat_id}]\n{indent(render(message))}")

    async def send_direct(self, user_id: str, message: Reply) -> None:
        self._out(f"📩 [私信 → {user_id}]\n{indent(render(message))}")


class ConsolePlatform:
    """The demo's terminal as a platform: it only pushes; the demo feeds messages itself."""

    name = "console"
    connection = None

    def __init__(self, out: Callable[[str], None]) -> None:
        self.transport = ConsoleTransport(out)

    def add_routes(self, router: web.UrlDispatcher) -> None:
        pass  # nothing arrives over HTTP

    async def start(self) -> None:
        pass

    async def drain(self) -> None:
        pass

    async def stop(self) -> None:
        pass
