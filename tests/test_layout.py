"""The commissioned layout: four top-level packages from this repository, imports one way.

storage imports nothing of the app; handlers use storage and the bot core but never a
platform or the composition root; platforms never import handlers; only the composition
root (bot/app.py, bot/cli.py, bot/demo.py) may import everything.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "handlers", "schedules", "storage")
# The web console is part of it too: it serves pages from every layer (DESIGN: Layout).
COMPOSITION_ROOT = {"bot.app", "bot.cli", "bot.demo", "bot.console"}


@pytest.mark.parametrize("name", PACKAGES)
def test_each_package_is_this_repositorys(name: str) -> None:
    # Generic names: an installed distribution of the same name would shadow ours.
    module = importlib.import_module(name)
    assert module.__file__ is not None
    assert Path(module.__file__).resolve().parent == ROOT / name


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue  # Alembic scripts, loaded by Alembic, import storage's models only
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def imports_of(name: str, path: Path) -> set[str]:
    """Every module of the app that `name` imports, at any depth of its code."""
    out = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            out.add(target)
            out |= {f"{target}.{a.name}" for a in node.names}
    return {m for m in out if m.split(".")[0] in PACKAGES}


def within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def violations() -> list[str]:
    found = []
    for name, path in modules().items():
        if any(within(name, p) for p in COMPOSITION_ROOT):
            continue
        for target in sorted(imports_of(name, path)):
            rule = None
            if within(name, "storage") and not within(target, "storage"):
                rule = "storage imports nothing of the app"
            elif within(name, "handlers") and any(
                within(target, p) for p in ("bot.platforms", *COMPOSITION_ROOT)
            ):
                rule = "handlers never import platforms or the composition root"
            elif within(name, "bot.platforms") and within(target, "handlers"):
                rule = "platforms never import handlers"
            elif not within(name, "handlers") and any(within(target, p) for p in COMPOSITION_ROOT):
                rule = "only the composition root imports the composition root"
            if rule:
                found.append(f"{name} imports {target}: {rule}")
    return found


def test_imports_flow_one_way() -> None:
    assert violations() == []


def test_the_walk_sees_a_violation(tmp_path: Path) -> None:
    # The rule above must be able to fail: a storage module importing the bot core is seen.
    path = tmp_path / "bad.py"
    path.write_text("from bot.config import Settings\nfrom . import engine\n", "utf-8")
    assert imports_of("storage.bad", path) >= {"bot.config", "bot.config.Settings"}
    assert "storage.engine" in imports_of("storage.bad", path)
