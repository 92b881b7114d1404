"""Every command the bot knows, in the order 帮助 lists them."""

from __future__ import annotations

from bot.router import Command
from handlers import (
    appraisals,
    binding,
    checkin,
    console,
    events,
    meetings,
    minutes,
    nudge,
    pledges,
    records,
    study,
    summary,
    talks,
    terms,
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
        appraisals,
        pledges,
        minutes,
        terms,
        console,
    ):
        commands.extend(module.COMMANDS)
    return commands
