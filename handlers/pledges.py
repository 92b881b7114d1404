"""廉洁承诺: 发布承诺, 承诺, 未承诺, 催承诺."""

from __future__ import annotations

from bot.router import Command

COMMANDS: list[Command] = []
