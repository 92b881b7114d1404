"""Matches a message's command word to a handler, checking the sender's role first."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from bot.context import Context
from bot.messages import Reply
from storage.models import Role

# WeCom puts U+2005 after an @mention; full-width and no-break spaces also occur.
_SPACES = re.compile(r"[\u2005\u3000\u00a0\u200b\s]+")
_MENTION = re.compile(r"[@＠][^\s@＠]+")

BIND_HINT = "您还没有绑定身份。请发送：绑定 姓名 手机后四位（例如：绑定 张三 1234）"
UNKNOWN_HINT = "没听懂“{word}”。发送「帮助」查看可用命令。"
EMPTY_HINT = "我在。发送「帮助」查看可用命令。"


class ArgError(ValueError):
    """Arguments a handler cannot use; the message is shown to the user as is."""


@dataclass(frozen=True)
class Command:
    """One command: its words, who may use it, how to read its arguments, what it does."""

    name: str
    summary: str
    usage: str
    run: Callable[[Context, Any], Awaitable[Reply]]
    aliases: tuple[str, ...] = ()
    role: Role | None = Role.MEMBER  # None: anyone, bound or not
    parse: Callable[[str], Any] = str.strip

    @property
    def words(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


def normalize(text: str) -> str:
    """Drop @mentions, odd spaces and a leading '/'; keep single spaces between words."""
    text = _MENTION.sub(" ", text)
    text = _SPACES.sub(" ", text).strip()
    return text[1:].lstrip() if text.startswith(("/", "／")) else text


def split_command(text: str) -> tuple[str, str]:
    word, _, rest = normalize(text).partition(" ")
    return word, rest.strip()


def role_name(role: Role) -> str:
    return {Role.MEMBER: "成员", Role.SECRETARY: "支部书记和管理员", Role.ADMIN: "管理员"}[role]


class Router:
    def __init__(self, commands: Iterable[Command]) -> None:
        self.commands: list[Command] = list(commands)
        self._by_word: dict[str, Command] = {}
        for cmd in self.commands:
            for word in cmd.words:
                key = word.lower()
                if key in self._by_word:
                    raise ValueError(f"command word {word!r} registered twice")
                self._by_word[key] = cmd

    def match(self, word: str) -> Command | None:
        return self._by_word.get(word.lower())

    def allowed(self, role: Role | None) -> list[Command]:
        """The commands a sender with `role` may use (None: not bound yet)."""
        return [c for c in self.commands if permits(c, role)]

    async def dispatch(self, ctx: Context) -> Reply:
        word, rest = split_command(ctx.msg.text)
        if not word:
            return Reply(EMPTY_HINT)
        cmd = self.match(word)
        if cmd is None:
            return Reply(UNKNOWN_HINT.format(word=word[:20]))
        if cmd.role is not None:
            if ctx.member is None:
                return Reply(BIND_HINT)
            if not permits(cmd, ctx.role):
                return Reply(f"「{cmd.name}」仅限{role_name(cmd.role)}使用。")
        try:
            args = cmd.parse(rest)
        except ArgError as exc:
            return Reply(f"{exc}\n用法：{cmd.usage}")
        return await cmd.run(ctx, args)


def permits(cmd: Command, role: Role | None) -> bool:
    if cmd.role is None:
        return True
    return role is not None and role.rank >= cmd.role.rank
