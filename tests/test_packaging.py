"""What `pip install qingfeng` (not editable) gets, and the lowest versions CI runs.

The wheel is built from a copy of the sources (no stale build/ directory), unpacked, and the
command line run from it in an empty directory: the example config, the demo roster, the
reminder templates and the Alembic migrations must come from the package, not the checkout.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "handlers", "schedules", "storage")
CONSTRAINTS = ROOT / "tests" / "constraints-lowest.txt"
# The wheel does not depend on the database: the PostgreSQL pass leaves it to the SQLite ones.
not_on_postgres = pytest.mark.skipif(
    bool(os.environ.get("QINGFENG_TEST_POSTGRES")), reason="wheel checked on the SQLite passes"
)


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))


def source_files() -> set[str]:
    """Every file of the four packages, as the wheel names it."""
    found = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*"):
            rel = path.relative_to(ROOT)
            if path.is_file() and "__pycache__" not in rel.parts and path.suffix != ".pyc":
                found.add(rel.as_posix())
    return found


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, src / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
    out = tmp_path_factory.mktemp("dist")
    pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index"]
    r = subprocess.run(
        [*pip, "--quiet", "-w", str(out), str(src)], capture_output=True, text=True, timeout=300
    )
    assert r.returncode == 0, r.stdout + r.stderr
    (built,) = out.glob("qingfeng-*.whl")
    return built


@not_on_postgres
def test_wheel_holds_every_package_file_and_nothing_else(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        scripts = zf.read(entry_points).decode()
    shipped = {n for n in names if ".dist-info/" not in n}
    assert shipped == source_files()
    assert re.search(r"^qingfeng = bot\.cli:main$", scripts, re.M)


@not_on_postgres
def test_cli_from_the_unpacked_wheel_in_an_empty_directory(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("QINGFENG_")}
    env["PYTHONPATH"] = str(site)  # ahead of the checkout's editable install

    qingfeng = [sys.executable, "-c", "from bot.cli import main; main()"]

    def run(*args: str, stdin: str = "") -> str:
        r = subprocess.run(
            [*qingfeng, *args],
            cwd=work, env=env, input=stdin, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert r.returncode == 0, r.stdout + r.stderr
        return r.stdout

    where = run_python(env, work, "import bot, storage; print(bot.__file__, storage.__file__)")
    assert all(Path(p).is_relative_to(site) for p in where.split()), where
    assert "数据库已升级：空 →" in run("db", "upgrade")
    assert "春节廉洁提醒" in run("calendar", "2026")
    out = run("demo", "--at", "2026-12-01 08:10", stdin="签到\n我的\n")
    assert "上班签到成功 08:10" in out
    assert "日常签到：按时 1" in out
    run("init")
    assert "[database]" in (work / "qingfeng.toml").read_text("utf-8")


def run_python(env: dict[str, str], cwd: Path, code: str) -> str:
    r = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0, r.stderr
    return r.stdout


def lower_bounds() -> dict[str, Version]:
    """Each requirement's `>=` bound, from the dependencies, every extra and build-system."""
    data = pyproject()
    specs = [
        *data["project"]["dependencies"],
        *(s for extra in data["project"]["optional-dependencies"].values() for s in extra),
        *data["build-system"]["requires"],
    ]
    bounds: dict[str, Version] = {}
    for spec in specs:
        req = Requirement(spec)
        (low,) = [Version(s.version) for s in req.specifier if s.operator == ">="]
        name = canonicalize_name(req.name)
        assert bounds.get(name, low) == low, f"{name}: two lower bounds"
        bounds[name] = low
    return bounds


def pins() -> dict[str, Version | None]:
    """Each constrained name: its `==` version, or None for a range."""
    found: dict[str, Version | None] = {}
    for line in CONSTRAINTS.read_text("utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            req = Requirement(line)
            (spec, *more) = req.specifier
            exact = spec.operator == "==" and not more and "*" not in spec.version
            found[canonicalize_name(req.name)] = Version(spec.version) if exact else None
    return found


def test_constraints_pin_every_requirement_at_its_lower_bound() -> None:
    pinned = pins()
    for name, low in lower_bounds().items():
        assert pinned.get(name) == low, f"{name}: pyproject says >={low}, constraints say otherwise"
