"""Operator mistakes at the command line end in one Chinese line, never a traceback."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import cli
from bot.config import load_settings
from storage.engine import Database
from storage.migrate import upgrade
from tests.conftest import ROSTER

NOT_READY = {
    "missing": "找不到数据库文件",
    "empty": "数据库还没有初始化，请先运行 qingfeng db upgrade",
    "old": "数据库结构不是最新，请先运行 qingfeng db upgrade",
}


def _config(tmp_path: Path, db: str = "q.db") -> Path:
    # Relative on purpose: it is taken from the config file's folder.
    config = tmp_path / "q.toml"
    config.write_text(f'[database]\nurl = "sqlite+aiosqlite:///{db}"\n', encoding="utf-8")
    return config


def _make_db(path: Path, state: str) -> None:
    if state == "missing":
        return

    async def go() -> None:
        db = Database(f"sqlite+aiosqlite:///{path}")
        try:
            if state == "empty":
                async with db.engine.begin():
                    pass  # connecting creates the file, with no tables
            else:
                await upgrade(db, "0006")
        finally:
            await db.dispose()

    asyncio.run(go())


def _invoke(tmp_path: Path, *args: str):
    return CliRunner().invoke(cli, [*args, "--config", str(tmp_path / "q.toml")])


COMMANDS = [
    ("summary",),
    ("summary", "上月", "--branch", "一中"),
    ("outbox",),
    ("outbox", "--failed"),
    ("roster", "import", "roster.csv"),
    ("roster", "export", "out.xlsx"),
    ("backup", "copy.db"),
]


@pytest.mark.parametrize("state", ["missing", "empty", "old"])
@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a))
def test_database_not_ready_is_one_chinese_line(tmp_path, monkeypatch, state, args):
    monkeypatch.chdir(tmp_path)
    _config(tmp_path)
    _make_db(tmp_path / "q.db", state)
    (tmp_path / "roster.csv").write_text(ROSTER, encoding="utf-8")
    result = _invoke(tmp_path, *args)
    assert result.exit_code == 1, result.output
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), result.exception
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and NOT_READY[state] in lines[0], result.output
    assert "Traceback" not in result.output
    # Neither a stray database nor a backup of nothing was left behind.
    assert (tmp_path / "q.db").exists() == (state != "missing")
    assert not (tmp_path / "copy.db").exists()


def test_backup_into_missing_directory(tmp_path):
    _config(tmp_path)
    assert _invoke(tmp_path, "db", "upgrade").exit_code == 0
    result = _invoke(tmp_path, "backup", str(tmp_path / "nowhere" / "copy.db"))
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"目录 {tmp_path / 'nowhere'} 不存在，请先创建它（mkdir -p {tmp_path / 'nowhere'}）"
    ]


def test_relative_sqlite_path_is_taken_from_the_config_folder(tmp_path, monkeypatch):
    _config(tmp_path, "data/q.db")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    (tmp_path / "data").mkdir()
    settings = load_settings(tmp_path / "q.toml", env={})
    assert settings.database.url == f"sqlite+aiosqlite:///{tmp_path / 'data' / 'q.db'}"
    assert _invoke(tmp_path, "db", "upgrade").exit_code == 0
    assert (tmp_path / "data" / "q.db").exists()
    assert list(elsewhere.iterdir()) == []
    result = _invoke(tmp_path, "backup", "copy.db")  # the destination stays relative to cwd
    assert result.exit_code == 0, result.output
    assert (elsewhere / "copy.db").exists()


def test_environment_url_still_wins(tmp_path):
    _config(tmp_path, "data/q.db")
    url = "sqlite+aiosqlite:///other.db"
    settings = load_settings(tmp_path / "q.toml", env={"QINGFENG_DATABASE__URL": url})
    assert settings.database.url == url


def test_calendar_without_database_creates_none(tmp_path, monkeypatch):
    _config(tmp_path)
    monkeypatch.chdir(tmp_path)
    result = _invoke(tmp_path, "calendar", "2026")
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "q.db").exists()
