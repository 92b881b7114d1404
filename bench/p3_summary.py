"""P3: the county monthly summary over a year of data vs one hand-written SQL aggregate.

    .venv/bin/python bench/p3_summary.py [--db FILE] [--rebuild] [--repeat N]

Builds (once; reused while the file exists) a SQLite file with 100 branches of 50 members
(5,000), every working day of 2026 checked in twice (about 2.5 million check-ins), three
meetings per branch a month with attendance, and 52 county-wide study tasks (about 250,000
confirmations). Then times, alternately in the same process:

- the bot: `load_summary` for the whole county, November 2026 (what an admin's 汇总 runs:
  SQLAlchemy, aiosqlite, the calendar maths and the ranking), and
- the baseline: one hand-written SQL statement computing the same per-branch figures,
  through the stdlib sqlite3 module on the same file.

Prints the median of each, their ratio (target P3: <= 1.5) and checks both agree.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import statistics
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from bot.clock import FakeClock
from bot.config import load_settings
from bot.context import Services
from handlers.periods import parse_period
from handlers.summary import Scope, load_summary
from schedules.holidays import HolidayCalendar
from storage import members
from storage.engine import Database
from storage.migrate import head_revision, upgrade

BRANCHES = 100
PER_BRANCH = 50
YEAR = 2026
TASKS = 52
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # 17:00 in Shanghai: November is closed
MONTH = "2026-11"
SH = timedelta(hours=8)


def ts(dt: datetime) -> str:
    """SQLAlchemy's SQLite DATETIME text, UTC."""
    return dt.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def local(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=UTC) - SH


async def create_schema(path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{path}")
    try:
        await upgrade(db)
    finally:
        await db.dispose()


def build(path: Path) -> None:
    rnd = random.Random(2026)
    asyncio.run(create_schema(path))
    cal = HolidayCalendar()
    workdays = cal.workdays(date(YEAR, 1, 1), date(YEAR, 12, 31))
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    created = ts(datetime(2025, 1, 1, tzinfo=UTC))
    with con:
        con.executemany(
            "INSERT INTO branches (id, name, created_at) VALUES (?, ?, ?)",
            [(b, f"第{b:03d}党支部", created) for b in range(1, BRANCHES + 1)],
        )
        rows = []
        for b in range(1, BRANCHES + 1):
            for i in range(PER_BRANCH):
                mid = (b - 1) * PER_BRANCH + i + 1
                status = "群众" if i % 10 == 9 else ("预备党员" if i % 10 == 8 else "党员")
                role = "书记" if i == 0 else "成员"
                rows.append(
                    (mid, f"成员{mid}", b, status, role, f"1{mid:010d}", 1, created, created)
                )
        con.executemany(
            "INSERT INTO members (id, name, branch_id, status, role, phone, active, created_at,"
            " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        n_members = BRANCHES * PER_BRANCH

        def checkin_rows():  # type: ignore[no-untyped-def]
            for day in workdays:
                d = day.isoformat()
                for mid in range(1, n_members + 1):
                    r = rnd.random()
                    if r < 0.97:
                        late = r > 0.9
                        yield (
                            mid,
                            d,
                            "上班",
                            ts(local(day, 8, 40 if late else 8)),
                            0 if late else 1,
                        )
                    if rnd.random() < 0.96:
                        yield (mid, d, "下班", ts(local(day, 17, 30)), 1)

        con.executemany(
            "INSERT INTO checkins (member_id, day, slot, at, on_time) VALUES (?, ?, ?, ?, ?)",
            checkin_rows(),
        )
        events, attendance, eid = [], [], 0
        for b in range(1, BRANCHES + 1):
            for month in range(1, 13):
                for kind, dom in (("主题党日", 6), ("支委会", 13), ("党小组会", 20)):
                    eid += 1
                    start = local(cal.next_workday(date(YEAR, month, dom)), 15)
                    events.append((eid, b, kind, ts(start), "", created))
                    for i in range(PER_BRANCH):
                        if i % 10 == 9:
                            continue  # 群众 are not expected
                        mid = (b - 1) * PER_BRANCH + i + 1
                        r = rnd.random()
                        if r < 0.8:
                            attendance.append((eid, mid, "出席", "", ts(start)))
                        elif r < 0.85:
                            attendance.append((eid, mid, "迟到", "", ts(start + SH / 16)))
                        elif r < 0.9:
                            attendance.append((eid, mid, "请假", "出差", ts(start - SH)))
        con.executemany(
            "INSERT INTO events (id, branch_id, kind, starts_at, place, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            events,
        )
        con.executemany(
            "INSERT INTO attendance (event_id, member_id, status, reason, at)"
            " VALUES (?, ?, ?, ?, ?)",
            attendance,
        )
        tasks, confirmations = [], []
        for t in range(1, TASKS + 1):
            made = local(date(YEAR, 1, 5) + timedelta(days=7 * (t - 1)), 9)
            due = (made + timedelta(days=10)).date()
            tasks.append((t, f"学习材料{t}", "", None, due.isoformat(), ts(made)))
            for mid in range(1, n_members + 1):
                r = rnd.random()
                if r < 0.96:
                    late = r > 0.9
                    at = made + timedelta(days=12 if late else 2)
                    confirmations.append((t, mid, ts(at), 1 if late else 0))
        con.executemany(
            "INSERT INTO study_tasks (id, title, link, branch_id, due, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            tasks,
        )
        con.executemany(
            "INSERT INTO study_confirmations (task_id, member_id, at, late) VALUES (?, ?, ?, ?)",
            confirmations,
        )
    con.execute("ANALYZE")
    con.close()


# The baseline: the same per-branch figures in one statement, written by hand.
BASELINE = """
WITH ck AS (
  SELECT member_id, SUM(on_time) AS on_time, SUM(1 - on_time) AS late, COUNT(*) AS done
  FROM checkins WHERE day BETWEEN :first AND :last GROUP BY member_id
), ev AS (
  SELECT m.id AS mid, COUNT(e.id) AS expected,
         SUM(a.status = '出席') AS present, SUM(a.status = '迟到') AS late,
         SUM(a.status = '请假') AS leave
  FROM members m
  JOIN events e ON e.branch_id = m.branch_id AND e.starts_at >= :start AND e.starts_at < :end
       AND m.created_at <= e.starts_at AND e.cancelled_at IS NULL
       AND (e.kind != '支委会' OR m.committee != '')
       AND (e.kind != '党小组会' OR e.party_group = '' OR e.party_group = m.party_group)
  LEFT JOIN attendance a ON a.event_id = e.id AND a.member_id = m.id
  WHERE m.status IN ('党员', '预备党员') GROUP BY m.id
), st AS (
  -- A task counts in the month of its due date; Party members unless for 全体; only
  -- members on the roster by the end of the due date (Shanghai is UTC+8).
  SELECT m.id AS mid, COUNT(t.id) AS total, COUNT(c.id) AS confirmed, SUM(c.late) AS late
  FROM members m
  JOIN study_tasks t ON (t.branch_id IS NULL OR t.branch_id = m.branch_id)
       AND t.due BETWEEN :first AND :last
       AND (t.audience = '全体' OR m.status IN ('党员', '预备党员'))
       AND m.created_at < datetime(t.due, '+1 day', '-8 hours')
  LEFT JOIN study_confirmations c ON c.task_id = t.id AND c.member_id = m.id
  GROUP BY m.id
)
SELECT m.branch_id, COUNT(*), SUM(COALESCE(ck.done, 0)), SUM(COALESCE(ev.expected, 0)),
       SUM(COALESCE(ev.present, 0)), SUM(COALESCE(ev.late, 0)), SUM(COALESCE(ev.leave, 0)),
       SUM(COALESCE(st.total, 0)), SUM(COALESCE(st.confirmed, 0))
FROM members m
LEFT JOIN ck ON ck.member_id = m.id
LEFT JOIN ev ON ev.mid = m.id
LEFT JOIN st ON st.mid = m.id
WHERE m.active
GROUP BY m.branch_id ORDER BY m.branch_id
"""


def baseline(con: sqlite3.Connection) -> tuple[float, list[tuple[int, ...]]]:
    first, last = date(2026, 11, 1), date(2026, 11, 30)
    params = {
        "first": first.isoformat(),
        "last": last.isoformat(),
        "start": ts(local(first, 0)),
        "end": ts(local(last + timedelta(days=1), 0)),
    }
    t0 = time.perf_counter()
    rows = con.execute(BASELINE, params).fetchall()
    return time.perf_counter() - t0, rows


async def bot_summary(db: Database, services: Services) -> tuple[float, list[tuple[int, ...]]]:
    period = parse_period(MONTH, NOW.date())
    t0 = time.perf_counter()
    async with db.read() as s:
        scope = Scope(tuple(await members.all_branches(s)), county=True)
        data = await load_summary(s, services, scope, period, NOW)
    elapsed = time.perf_counter() - t0
    rows = sorted(
        (b.branch_id, b.members, b.counts.checkin_done, b.counts.ev_expected, b.counts.ev_present,
         b.counts.ev_late, b.counts.ev_leave, b.counts.st_total, b.counts.st_confirmed)
        for b in data.branches
    )  # fmt: skip
    return elapsed, rows


async def measure(path: Path, repeat: int) -> None:
    settings = load_settings(
        None,
        env={},
        database={"url": f"sqlite+aiosqlite:///{path}"},
        branches=[{"name": f"第{b:03d}党支部", "daily_checkin": True} for b in range(1, 101)],
    )
    services = Services(settings, FakeClock(NOW), HolidayCalendar())
    db = Database(settings.database.url)
    con = sqlite3.connect(path)
    ours, base = [], []
    try:
        await bot_summary(db, services)  # warm both caches once
        baseline(con)
        for _ in range(repeat):
            t, ours_rows = await bot_summary(db, services)
            ours.append(t)
            t, base_rows = baseline(con)
            base.append(t)
    finally:
        con.close()
        await db.dispose()
    if [tuple(r) for r in ours_rows] != [tuple(r) for r in base_rows]:
        raise SystemExit("the bot and the baseline disagree")
    o, b = statistics.median(ours), statistics.median(base)
    print(f"county monthly summary (bot):   {o * 1000:8.1f} ms  (median of {repeat})")
    print(f"hand-written SQL aggregate:     {b * 1000:8.1f} ms")
    print(f"ratio: {o / b:.2f}x  (target <= 1.5x, bot < 1000 ms)")


def schema_is_current(path: Path) -> bool:
    con = sqlite3.connect(path)
    try:
        (version,) = con.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error:
        return False
    finally:
        con.close()
    return bool(version == head_revision())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=Path("bench/p3.db"))
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    if args.db.exists() and not args.rebuild and not schema_is_current(args.db):
        print(f"{args.db} was built on an older schema: rebuilding it")
        args.rebuild = True
    if args.rebuild and args.db.exists():
        for suffix in ("", "-wal", "-shm"):
            Path(f"{args.db}{suffix}").unlink(missing_ok=True)
    if not args.db.exists():
        t0 = time.perf_counter()
        build(args.db)
        con = sqlite3.connect(args.db)
        counts = {
            t: con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
            for t in ("members", "checkins", "attendance", "study_confirmations")
        }
        con.close()
        print(f"built {args.db} in {time.perf_counter() - t0:.0f} s: {counts}")
    asyncio.run(measure(args.db, args.repeat))


if __name__ == "__main__":
    main()
