"""换届 in chat: a secretary's branch term, the admin's county table."""

from __future__ import annotations

from bot.router import Command

COMMANDS: list[Command] = []
