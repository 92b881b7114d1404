"""A consistent copy of a live database: SQLite's online backup, or pg_dump."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy.engine import make_url


class BackupError(Exception):
    pass


def backup_database(url: str, dest: Path) -> int:
    """Copy the database at `url` to `dest`; return the size written in bytes."""
    parsed = make_url(url)
    if dest.exists():
        raise BackupError(f"{dest} 已存在，请换一个文件名")
    if parsed.get_backend_name() == "sqlite":
        source = parsed.database
        if not source or source == ":memory:" or not Path(source).exists():
            raise BackupError(f"找不到 SQLite 数据库文件：{source}")
        tmp = dest.with_name(dest.name + ".part")
        # The online backup API copies page by page under SQLite's own locking, so a
        # writer in another process neither blocks it for long nor leaves it torn.
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
        try:
            out = sqlite3.connect(tmp)
            try:
                src.backup(out, pages=256)
                out.execute("PRAGMA journal_mode=DELETE")  # a single self-contained file
            finally:
                out.close()
        finally:
            src.close()
        tmp.rename(dest)
        return dest.stat().st_size
    if parsed.get_backend_name() == "postgresql":
        if shutil.which("pg_dump") is None:
            raise BackupError("PostgreSQL 备份需要 pg_dump，请先安装 postgresql-client")
        plain = parsed.set(drivername="postgresql")
        dsn = plain.render_as_string(hide_password=False)
        result = subprocess.run(
            ["pg_dump", "--format=custom", "--file", str(dest), dsn],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise BackupError(f"pg_dump 失败：{result.stderr.strip()[:300]}")
        return dest.stat().st_size
    raise BackupError(f"不支持备份这种数据库：{parsed.get_backend_name()}")
