"""Jinja2 templates of the 看板: server-rendered, escaped, no script."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.console import svg

if TYPE_CHECKING:
    import jinja2

HERE = Path(__file__).parent


def environment() -> jinja2.Environment:
    # Imported here: a process that never serves a page (most of them) does not pay for it.
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,  # every value from the database is escaped
        undefined=jinja2.StrictUndefined,  # a missing field is a bug, not an empty cell
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pct"] = pct
    env.filters["ymd"] = lambda d: f"{d.month}月{d.day}日"
    env.filters["hm"] = lambda d: f"{d.month}月{d.day}日 {d:%H:%M}"
    env.globals["sparkline"] = svg.sparkline
    env.globals["trend_chart"] = svg.trend_chart
    return env


def pct(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.0f}%"


def render(env: jinja2.Environment, name: str, **context: Any) -> str:
    return env.get_template(name).render(**context)


def stylesheet() -> bytes:
    return (HERE / "static" / "console.css").read_bytes()
