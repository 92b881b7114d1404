"""纪要 编号 议题；内容: a meeting's record for the 台账, with images sent soon after."""

from __future__ import annotations

from bot.router import Command

COMMANDS: list[Command] = []
