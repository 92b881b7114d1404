"""评议 姓名 等次: the secretary records a member's 民主评议 grade for the year."""

from __future__ import annotations

from bot.router import Command

COMMANDS: list[Command] = []
