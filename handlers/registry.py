"""Every command the bot knows, in the order 帮助 lists them."""

from __future__ import annotations

from bot.router import Command
from handlers import (
    binding,
    checkin,
    events,
    meetings,
    nudge,
    records,
    study,
    summary,
    talks,
    unbound,
)
from handlers.help import make_help


def all_commands() -> list[Command]:
    commands: list[Command] = []
    commands.append(make_help(lambda: commands))
    for module in (
        binding,
        checkin,
        study,
        events,
        meetings,
        records,
        summary,
        nudge,
        unbound,
        talks,
    ):
        commands.extend(module.COMMANDS)
    return commands
