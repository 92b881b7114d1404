"""The `qingfeng` command line."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, date, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from bot.clock import SystemClock
from bot.config import ConfigError, Settings, load_settings

if TYPE_CHECKING:  # imported when serving: the other commands start without it
    from bot.app import App
    from schedules.rules import BranchShape

T = TypeVar("T")

cli = typer.Typer(
    help="清风：县教育系统党支部的企业微信/钉钉群机器人。",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_cli = typer.Typer(help="数据库结构。", no_args_is_help=True)
roster_cli = typer.Typer(help="花名册导入导出。", no_args_is_help=True)
cli.add_typer(db_cli, name="db")
cli.add_typer(roster_cli, name="roster")
member_cli = typer.Typer(help="人员：查看、离开、调动、解绑。", no_args_is_help=True)
branch_cli = typer.Typer(help="支部：查看、改名、合并、删除。", no_args_is_help=True)
cli.add_typer(member_cli, name="member")
cli.add_typer(branch_cli, name="branch")

ConfigOpt = Annotated[
    str | None,
    typer.Option("--config", "-c", help="配置文件（默认 $QINGFENG_CONFIG 或 ./qingfeng.toml）"),
]


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


def _settings(config: str | None) -> Settings:
    try:
        return load_settings(config)
    except ConfigError as exc:
        raise _fail(str(exc), 2) from None


def _run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def _require_db(settings: Settings) -> None:
    """Stop with one line when the database is missing, empty or behind the code.

    Asked before a command touches the tables: otherwise the operator sees SQLAlchemy's
    traceback, and SQLite would create a stray empty file behind a mistyped path."""
    from storage.checks import schema_state, sqlite_file_missing

    url = settings.database.url
    try:
        state = _run(schema_state(url))
    except Exception as exc:
        problem = f"{type(exc).__name__}: {exc}"
        raise _fail(f"连不上数据库：{problem}（请检查配置里的 [database] url）") from None
    if state == "missing":
        raise _fail(
            f"找不到数据库文件 {sqlite_file_missing(url)}，"
            "请先运行 qingfeng db upgrade（或检查配置里的 [database] url）"
        )
    if state == "empty":
        raise _fail("数据库还没有初始化，请先运行 qingfeng db upgrade")
    if state == "old":
        raise _fail("数据库结构不是最新，请先运行 qingfeng db upgrade")


@cli.command()
def init(
    path: Annotated[Path, typer.Argument(help="写到哪个文件")] = Path("qingfeng.toml"),
    force: Annotated[bool, typer.Option("--force", help="覆盖已有文件")] = False,
) -> None:
    """写出一份带注释的 qingfeng.toml 模板。"""
    if path.exists() and not force:
        raise _fail(f"{path} 已存在；要覆盖请加 --force")
    template = resources.files("bot").joinpath("qingfeng.example.toml").read_text("utf-8")
    path.write_text(template, encoding="utf-8")
    typer.echo(f"已写出 {path}。填好企业微信/钉钉的密钥后运行：qingfeng db upgrade")


@db_cli.command("upgrade")
def db_upgrade(config: ConfigOpt = None) -> None:
    """创建或升级数据库结构（Alembic）。"""
    from storage.engine import Database
    from storage.migrate import current_revision, upgrade

    settings = _settings(config)

    async def go() -> tuple[str | None, str | None]:
        db = Database(settings.database.url)
        try:
            before = await current_revision(db)
            await upgrade(db)
            return before, await current_revision(db)
        finally:
            await db.dispose()

    try:
        before, after = _run(go())
    except Exception as exc:
        raise _fail(f"数据库升级失败：{type(exc).__name__}: {exc}") from None
    if before == after:
        typer.echo(f"数据库已是最新（{after}）。")
    else:
        typer.echo(f"数据库已升级：{before or '空'} → {after}")


@roster_cli.command("import")
def roster_import(
    file: Annotated[Path, typer.Argument(help=".xlsx 或 .csv")],
    yes: Annotated[bool, typer.Option("--yes", help="确认导入（不加只预览，不做修改）")] = False,
    rename: Annotated[
        bool, typer.Option("--rename", help="手机号相同而姓名不同时，按改名处理")
    ] = False,
    new_branch: Annotated[
        list[str] | None, typer.Option("--new-branch", help="允许新建的支部（可写多次）")
    ] = None,
    full: Annotated[
        bool, typer.Option("--full", help="整份名单：不在文件中的人标记为离开")
    ] = False,
    config: ConfigOpt = None,
) -> None:
    """从 .xlsx 或 .csv 导入花名册：先逐人预览，加 --yes 才导入（有错误行则整份不导入）。"""
    import getpass

    from handlers.roster import ImportOptions, RosterError, import_roster
    from storage.engine import Database

    settings = _settings(config)
    if not file.exists():
        raise _fail(f"找不到文件 {file}")
    _require_db(settings)
    try:
        operator = getpass.getuser()
    except Exception:  # no login name in some containers; the history still says 命令行
        operator = "未知"
    options = ImportOptions(
        rename=rename,
        new_branches=frozenset(new_branch or ()),
        full=full,
        actor=f"命令行（{operator}）",
        source=f"roster import {file.name}",
    )

    async def go() -> Any:
        db = Database(settings.database.url)
        try:
            return await import_roster(db, file, SystemClock().now(), options, apply=yes)
        finally:
            await db.dispose()

    try:
        result = _run(go())
    except RosterError as exc:
        lines = [f"花名册有 {len(exc.problems)} 处错误，未导入任何人员：", *exc.problems]
        raise _fail("\n".join(lines)) from None
    for line in result.preview():
        typer.echo(line)
    if yes:
        typer.echo(f"导入完成：{result.summary()}。")
    else:
        typer.echo(f"预览：{result.summary()}。")
        typer.echo("未做任何修改。核对无误后加 --yes 再运行一次即导入。")


@roster_cli.command("history")
def roster_history(
    phone: Annotated[str | None, typer.Argument(help="只看此手机号的人")] = None,
    config: ConfigOpt = None,
) -> None:
    """人员变动记录：谁、何时、从哪个文件或命令改了什么。"""
    from handlers.roster import normalize_phone
    from storage import audit
    from storage.engine import Database

    settings = _settings(config)
    _require_db(settings)

    async def go() -> Any:
        db = Database(settings.database.url)
        try:
            async with db.read() as s:
                return await audit.history(s, normalize_phone(phone) if phone else None)
        finally:
            await db.dispose()

    rows = _run(go())
    if not rows:
        typer.echo("没有人员变动记录。")
        return
    for c in rows:
        when = c.at.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M")
        typer.echo(f"{when} {c.action} {c.name}（{c.phone}） {c.actor} {c.source}")
        for line in c.detail.splitlines():
            typer.echo(f"    {line}")


@roster_cli.command("export")
def roster_export(
    file: Annotated[Path, typer.Argument(help=".xlsx 或 .csv")], config: ConfigOpt = None
) -> None:
    """把花名册导出为 .xlsx 或 .csv（列与导入相同）。"""
    from handlers.roster import RosterError, export_roster
    from storage.engine import Database

    settings = _settings(config)
    _require_db(settings)

    async def go() -> int:
        db = Database(settings.database.url)
        try:
            return await export_roster(db, file)
        finally:
            await db.dispose()

    try:
        n = _run(go())
    except RosterError as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"已导出 {n} 人到 {file}")


@cli.command("check")
def check_cmd(config: ConfigOpt = None) -> None:
    """检查配置和数据库，列出会让推送失败的每个问题（有问题时退出码为 1）。"""
    from bot.app import App
    from schedules.templates import TemplateError

    settings = _settings(config)
    _require_db(settings)

    async def go() -> list[str]:
        try:
            app = App(settings, schedule=False)
        except (TemplateError, ConfigError) as exc:
            raise _fail(str(exc), 2) from None
        try:
            return await app.startup_gaps()
        finally:
            await app.db.dispose()

    gaps = _run(go())
    if not gaps:
        typer.echo("检查通过：没有发现会让推送失败的问题。")
        return
    typer.echo(f"发现 {len(gaps)} 个问题，相关推送会失败：")
    for gap in gaps:
        typer.echo(f"· {gap}")
    raise typer.Exit(1)


@cli.command()
def serve(config: ConfigOpt = None) -> None:
    """启动 HTTP 服务（平台回调）和定时提醒。"""
    from bot.app import App, SchemaOutOfDate
    from bot.logs import setup_logging
    from schedules.templates import TemplateError

    settings = _settings(config)
    setup_logging(settings)

    async def go() -> None:
        try:
            app = App(settings)
        except (TemplateError, ConfigError) as exc:  # a platform's own checks, templates
            raise _fail(str(exc), 2) from None
        try:
            async with app:  # leaving it stops (if still started) and shuts down
                await _serve(app, settings)
        except SchemaOutOfDate as exc:  # from initialize, the database closed again
            raise _fail(str(exc)) from None

    _run(go())


async def _serve(app: App, settings: Settings) -> None:
    """Listen, start, and on SIGINT/SIGTERM finish in-flight work before the listener goes."""
    from aiohttp import web

    from bot.app import freeze_startup_heap

    runner = web.AppRunner(app.web_app(), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.server.host, settings.server.port)
        await site.start()
        await app.start()
        freeze_startup_heap()
        log = logging.getLogger("qingfeng")
        log.info("服务已启动：http://%s:%s", settings.server.host, settings.server.port)
        # Said at start, not when the first push fails hours later (also in /healthz).
        for gap in await app.startup_gaps():
            log.warning("启动检查：%s", gap)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await app.stop()  # finish in-flight work before the listener goes away
    finally:
        await runner.cleanup()


@cli.command()
def demo(
    at: Annotated[
        str | None, typer.Option("--at", help="演示起始时刻 'YYYY-MM-DD HH:MM'（默认现在）")
    ] = None,
    db: Annotated[Path | None, typer.Option("--db", help="演示数据库文件（默认临时文件）")] = None,
) -> None:
    """在 SQLite 上运行完整的机器人和一个示例县，在命令行里以任何人身份发言。"""
    from bot.demo import run_demo

    start = None
    if at:
        try:
            start = datetime.strptime(at, "%Y-%m-%d %H:%M")
        except ValueError:
            raise _fail("--at 的格式应为 'YYYY-MM-DD HH:MM'") from None
    tmp = None
    if db is None:
        tmp = tempfile.mkdtemp(prefix="qingfeng-demo-")
        db = Path(tmp) / "demo.db"
    elif db.exists():
        raise _fail(f"{db} 已存在；演示需要一个新的数据库文件")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    try:
        _run(run_demo(db, start, sys.stdin, lambda s: print(s, flush=True)))
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


@cli.command("calendar")
def calendar_cmd(
    year: Annotated[int, typer.Argument(help="年份，例如 2026", min=2000, max=2100)],
    branch: Annotated[str | None, typer.Option("--branch", help="只看某个支部")] = None,
    config: ConfigOpt = None,
) -> None:
    """列出某年的全部提醒：日期、时间、类型和推送对象（未公布的年份标“估算”）。"""
    from schedules.holidays import HolidayCalendar
    from schedules.report import calendar_lines, year_plan

    settings = _settings(config)
    names, shapes, ends = _branches(settings)
    if branch is not None:
        names = [n for n in names if n == branch] or [branch]
    cal = HolidayCalendar(settings.calendar.overrides)
    try:
        planned = year_plan(settings, cal, year, names, shapes, ends)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    if branch is not None:
        planned = [p for p in planned if p.branch in ("", branch)]
    if cal.is_estimated(year):
        typer.echo(
            f"注意：{year} 年官方节假日安排尚未收录，日期按推算和 [[calendar.overrides]] 估算。"
        )
    for line in calendar_lines(planned):
        typer.echo(line)


def _branches(
    settings: Settings,
) -> tuple[list[str], dict[str, BranchShape], dict[str, date]]:
    """Branches from the config, plus those in the database when it is there and current,
    with each one's 党小组 and committee from the roster (which meetings it holds) and
    the end of its term of office where a 换届 is recorded."""
    from schedules.occurrences import branch_shapes
    from schedules.terms import term_ends
    from storage import members
    from storage.checks import sqlite_file_missing
    from storage.engine import Database
    from storage.migrate import is_up_to_date

    names = [b.name for b in settings.branches] + [g.branch for g in settings.groups if g.branch]

    async def from_db() -> tuple[list[str], dict[str, BranchShape], dict[str, date]]:
        db = Database(settings.database.url)
        try:
            if not await is_up_to_date(db):
                return [], {}, {}
            async with db.read() as s:
                branches = await members.all_branches(s)
                by_id = await branch_shapes(s)
                ends = await term_ends(s)
            shapes = {b.name: by_id[b.id] for b in branches if b.id in by_id}
            return [b.name for b in branches], shapes, ends
        finally:
            await db.dispose()

    shapes: dict[str, BranchShape] = {}
    ends: dict[str, date] = {}
    if sqlite_file_missing(settings.database.url) is not None:
        return list(dict.fromkeys(names)), shapes, ends  # connecting would create a file
    try:
        found, shapes, ends = _run(from_db())
        names += found
    except Exception:  # no database yet: the config's branches are enough for a calendar
        pass
    return list(dict.fromkeys(names)), shapes, ends


# A group, so that `outbox` alone still lists and `outbox resend` requeues.
outbox_cli = typer.Typer(help="推送队列。")
cli.add_typer(outbox_cli, name="outbox")


@outbox_cli.callback(invoke_without_command=True)
def outbox_cmd(
    ctx: typer.Context,
    failed: Annotated[bool, typer.Option("--failed", help="只看失败和错过的推送")] = False,
    limit: Annotated[int, typer.Option("--limit", help="最多显示多少条", min=1)] = 200,
    config: ConfigOpt = None,
) -> None:
    """查看推送队列及每条推送的状态（最近到期的在前）；outbox resend 重新发送失败的推送。"""
    if ctx.invoked_subcommand is not None:
        return
    from schedules.report import outbox_lines
    from storage import outbox
    from storage.engine import Database

    settings = _settings(config)
    _require_db(settings)

    async def go() -> list[str]:
        db = Database(settings.database.url)
        try:
            async with db.read() as s:
                rows = await outbox.listing(s, failed_only=failed, limit=limit)
            return outbox_lines(rows, settings.tz)
        finally:
            await db.dispose()

    try:
        lines = _run(go())
    except Exception as exc:
        raise _fail(
            f"读取推送队列失败：{type(exc).__name__}（先运行 qingfeng db upgrade？）"
        ) from None
    if not lines:
        typer.echo("没有失败或错过的推送。" if failed else "推送队列是空的。")
    for line in lines:
        typer.echo(line)


@outbox_cli.command("resend")
def outbox_resend(
    ids: Annotated[
        list[int] | None, typer.Argument(help="推送编号（qingfeng outbox 中的 #号）")
    ] = None,
    failed: Annotated[bool, typer.Option("--failed", help="重新发送全部失败和错过的推送")] = False,
    since: Annotated[
        str | None, typer.Option("--since", help="与 --failed 同用：只重发此日期以后的 YYYY-MM-DD")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """把失败或错过的推送重新排队，立即发送（先修好配置或账号绑定）。"""
    from bot.clock import as_utc
    from storage import outbox
    from storage.engine import Database

    if bool(ids) == failed:
        raise _fail(
            "请给出推送编号（qingfeng outbox resend 12 13），或者用 --failed 重发全部失败的推送"
        )
    if since is not None and not failed:
        raise _fail("--since 只能和 --failed 一起用")
    settings = _settings(config)
    start = None
    if since is not None:
        try:
            day = datetime.strptime(since, "%Y-%m-%d")
        except ValueError:
            raise _fail("--since 的格式应为 YYYY-MM-DD") from None
        start = as_utc(day.replace(tzinfo=settings.tz))
    _require_db(settings)

    async def go() -> list[int]:
        db = Database(settings.database.url)
        try:
            async with db.write() as s:
                return await outbox.resend(s, SystemClock().now(), ids or None, start)
        finally:
            await db.dispose()

    done = _run(go())
    skipped = sorted(set(ids or ()) - set(done))
    if skipped:
        shown = " ".join(f"#{i}" for i in skipped)
        typer.echo(f"{shown} 不是失败或错过的推送（或不存在），未改动。", err=True)
    if not done:
        raise _fail("没有需要重新发送的推送。")
    typer.echo(f"已重新排队 {len(done)} 条推送：" + " ".join(f"#{i}" for i in done))
    typer.echo("运行中的 qingfeng serve 会在一分钟内发送；用 qingfeng outbox 查看结果。")


@cli.command()
def summary(
    period: Annotated[str, typer.Argument(help="期间：本月 上月 2026-05 等（默认本月）")] = "",
    branch: Annotated[str | None, typer.Option("--branch", help="只看这个支部")] = None,
    xlsx: Annotated[Path | None, typer.Option("--xlsx", help="同时导出 Excel 到此文件")] = None,
    at: Annotated[
        str | None, typer.Option("--at", help="按此时刻统计 'YYYY-MM-DD HH:MM'（默认现在）")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """支部书记的汇总（不写 --branch 为全县排名）。"""
    from handlers.summary_cli import run_summary

    settings = _settings(config)
    when = None
    if at:
        try:
            when = datetime.strptime(at, "%Y-%m-%d %H:%M")
        except ValueError:
            raise _fail("--at 的格式应为 'YYYY-MM-DD HH:MM'") from None
    _require_db(settings)
    try:
        text, body = _run(run_summary(settings, period, branch, xlsx is not None, when))
    except ValueError as exc:
        raise _fail(str(exc)) from None
    typer.echo(text)
    if xlsx is not None and body is not None:
        xlsx.write_bytes(body)
        typer.echo(f"\n已导出 {xlsx}")


@cli.command()
def backup(
    file: Annotated[Path, typer.Argument(help="备份到哪个文件")], config: ConfigOpt = None
) -> None:
    """把数据库一致地复制一份（运行中也可以）。"""
    from storage.backup import BackupError, backup_database

    settings = _settings(config)
    if not file.parent.is_dir():
        raise _fail(f"目录 {file.parent} 不存在，请先创建它（mkdir -p {file.parent}）")
    _require_db(settings)
    try:
        size = backup_database(settings.database.url, file)
    except BackupError as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"已备份到 {file}（{size / 1024:.0f} KB）")


def _who(command: str) -> Any:
    """The operator, for the history of people (qingfeng roster history)."""
    import getpass

    from storage.branches import Who

    try:
        operator = getpass.getuser()
    except Exception:  # no login name in some containers; the history still says 命令行
        operator = "未知"
    return Who(f"命令行（{operator}）", command)


def _operate(config: str | None, change: Callable[[Any], Awaitable[T]], *, write: bool) -> T:
    """Run one storage change in one transaction; operator mistakes become one line."""
    from storage.branches import OperatorError
    from storage.engine import Database

    settings = _settings(config)

    async def go() -> T:
        db = Database(settings.database.url)
        try:
            async with db.write() if write else db.read() as s:
                return await change(s)
        finally:
            await db.dispose()

    try:
        return _run(go())
    except OperatorError as exc:
        raise _fail(str(exc)) from None
    except Exception as exc:  # a missing or old database: one line, not a traceback
        raise _fail(
            f"数据库操作失败：{type(exc).__name__}（数据库是否存在？先运行 qingfeng db upgrade？）"
        ) from None


@member_cli.command("list")
def member_list(
    unbound: Annotated[
        bool, typer.Option("--unbound", help="只列出未绑定企业微信/钉钉的人")
    ] = False,
    branch: Annotated[str | None, typer.Option("--branch", help="只看这个支部")] = None,
    config: ConfigOpt = None,
) -> None:
    """列出在册人员（已离开的不列出）。"""
    from storage import branches as ops

    async def change(s: Any) -> list[ops.MemberRow]:
        branch_id = (await ops.branch_named(s, branch)).id if branch else None
        return await ops.member_rows(s, branch_id, unbound=unbound)

    rows = _operate(config, change, write=False)
    for r in rows:
        bound = "、".join(ops.PLATFORM_NAMES[p] for p in r.platforms) or "未绑定"
        m = r.member
        typer.echo(f"{m.name}\t{m.phone}\t{r.branch}\t{m.status}\t{m.role}\t{bound}")
    what = "未绑定的人员" if unbound else "人员"
    typer.echo(f"共 {len(rows)} 名{what}。")


@member_cli.command("leave")
def member_leave(
    phone: Annotated[str, typer.Argument(help="手机号")], config: ConfigOpt = None
) -> None:
    """人员离开：保留历史记录，不再统计和提醒，解除其账号绑定。"""
    from storage import branches as ops

    m = _operate(config, lambda s: ops.leave(s, phone, _who("member leave")), write=True)
    typer.echo(f"{m.name}（{m.phone}）已设为离开：历史记录保留，不再统计，账号绑定已解除。")


@member_cli.command("move")
def member_move(
    phone: Annotated[str, typer.Argument(help="手机号")],
    branch: Annotated[str, typer.Argument(help="调入的支部")],
    config: ConfigOpt = None,
) -> None:
    """把人员调到另一个支部。"""
    from storage import branches as ops

    m, old = _operate(config, lambda s: ops.move(s, phone, branch, _who("member move")), write=True)
    typer.echo(f"{m.name} 已从 {old} 调到 {branch}。")


@member_cli.command("unbind")
def member_unbind(
    phone: Annotated[str, typer.Argument(help="手机号")],
    platform: Annotated[str, typer.Option("--platform", help="wecom 或 dingtalk")],
    config: ConfigOpt = None,
) -> None:
    """解除人员在企业微信或钉钉上的账号绑定（可重新绑定）。"""
    from storage import branches as ops

    who = _who("member unbind")
    m = _operate(config, lambda s: ops.unbind(s, phone, platform, who), write=True)
    typer.echo(f"已解除 {m.name} 的{ops.PLATFORM_NAMES[platform]}账号绑定。")


@branch_cli.command("list")
def branch_list(config: ConfigOpt = None) -> None:
    """列出支部及人数、未绑定人数、群数。"""
    from storage import branches as ops

    rows = _operate(config, ops.branch_counts, write=False)
    for r in rows:
        typer.echo(f"{r.branch.name}\t{r.members} 人（未绑定 {r.unbound}）\t{r.groups} 个群")
    typer.echo(f"共 {len(rows)} 个支部。")


@branch_cli.command("rename")
def branch_rename(
    old: Annotated[str, typer.Argument(help="原名称")],
    new: Annotated[str, typer.Argument(help="新名称")],
    config: ConfigOpt = None,
) -> None:
    """支部改名（人员、群、会议都跟着走）。"""
    from storage import branches as ops

    settings = _settings(config)
    _operate(config, lambda s: ops.rename(s, old, new), write=True)
    typer.echo(f"支部已改名：{old} → {new}")
    # The config is synced in at start-up: an old name left there would come back.
    if any(b.name == old for b in settings.branches) or any(
        g.branch == old for g in settings.groups
    ):
        typer.echo(f"请同时把配置文件里的“{old}”改为“{new}”，否则下次启动会重新建出旧支部。")


@branch_cli.command("merge")
def branch_merge(
    source: Annotated[str, typer.Argument(help="被合并的支部（合并后删除）")],
    target: Annotated[str, typer.Argument(help="并入的支部")],
    config: ConfigOpt = None,
) -> None:
    """把一个支部的人员、群、会议、学习任务并入另一个支部，并删除前者。"""
    from storage import branches as ops

    settings = _settings(config)
    who = _who("branch merge")
    r = _operate(config, lambda s: ops.merge(s, source, target, who=who), write=True)
    typer.echo(
        f"已把 {source} 并入 {target}：人员 {r.members}、群 {r.groups}、"
        f"会议 {r.events}、学习任务 {r.tasks}；{source} 已删除。"
    )
    if r.cancelled:
        typer.echo(f"{source} 自动安排的 {r.cancelled} 场会议与 {target} 的同类会议重复，已取消。")
    if r.terms:
        typer.echo(f"{source} 的 {r.terms} 条换届记录已删除：合并后以 {target} 的支委会任期为准。")
    if any(b.name == source for b in settings.branches) or any(
        g.branch == source for g in settings.groups
    ):
        typer.echo(f"请同时把配置文件里的“{source}”改为“{target}”，否则下次启动会重新建出它。")


@branch_cli.command("remove")
def branch_remove(
    name: Annotated[str, typer.Argument(help="支部名称")], config: ConfigOpt = None
) -> None:
    """删除一个空支部（没有人员、群、会议时才可以）。"""
    from storage import branches as ops

    _operate(config, lambda s: ops.remove(s, name), write=True)
    typer.echo(f"支部“{name}”已删除。")


@branch_cli.command("term")
def branch_term(
    name: Annotated[str | None, typer.Argument(help="支部名称（不写则列出全县）")] = None,
    elected: Annotated[
        str | None, typer.Option("--elected", help="换届选举日期 YYYY-MM-DD")
    ] = None,
    years_given: Annotated[
        int | None, typer.Option("--years", help="任期（年，默认 3）")
    ] = None,
    file: Annotated[
        Path | None, typer.Option("--import", help="批量登记：.xlsx 或 .csv（支部、换届日期）")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="确认批量登记（不加只预览）")] = False,
    remove: Annotated[
        str | None, typer.Option("--remove", help="删除登记错了的一条（写它的选举日期）")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """换届：登记支部的换届选举日期和任期；不写支部则列出全县换届情况。"""
    from bot.router import ArgError
    from handlers import terms as rules
    from handlers.args import parse_date
    from storage.engine import Database

    # Options that do nothing where they are given would be silently dropped: refuse them.
    if (elected is not None or remove is not None) and name is None:
        raise _fail("--elected、--remove 要写在支部名称后面，如：branch term 支部 --elected 日期")
    if years_given is not None and elected is None:
        raise _fail("--years 要和 --elected 一起用（批量登记的任期写在文件的“任期”列）")
    if yes and file is None:
        raise _fail("--yes 只用于 --import 批量登记")
    if remove is not None and (elected is not None or file is not None):
        raise _fail("--remove 不能和 --elected、--import 同时使用")
    years = 3 if years_given is None else years_given
    settings = _settings(config)
    now = SystemClock().now()
    today = now.astimezone(settings.tz).date()
    if remove is not None:
        assert name is not None
        try:
            day = parse_date(remove)
        except ArgError as exc:
            raise _fail(str(exc)) from None
        from storage import branches as ops
        from storage import terms as term_store

        async def drop(s: Any) -> list[Any]:
            branch = await ops.branch_named(s, name)
            assert branch.id is not None
            if not await term_store.remove(s, branch.id, day):
                raise ops.OperatorError(f"{name} 没有 {day} 的换届记录，未做任何修改。")
            return await rules.states(s, today, [branch.id])

        (row,) = _operate(config, drop, write=True)
        typer.echo(f"已删除 {name} {day} 的换届记录。现在：")
        for line in rules.branch_lines(row, today):
            typer.echo(line)
        return
    if file is not None:
        if name is not None or elected is not None:
            raise _fail("--import 与支部名称、--elected 不能同时使用")
        if not file.exists():
            raise _fail(f"找不到文件 {file}")
        _require_db(settings)

        async def go() -> list[str]:
            db = Database(settings.database.url)
            try:
                return await rules.import_terms(
                    db, file, now, today, f"branch term --import {file.name}", apply=yes
                )
            finally:
                await db.dispose()

        try:
            lines = _run(go())
        except rules.TermError as exc:
            head = f"换届文件有 {len(exc.problems)} 处错误，未登记任何记录："
            raise _fail("\n".join([head, *exc.problems])) from None
        for line in lines:
            typer.echo(line)
        if yes:
            typer.echo(f"已登记 {len(lines)} 条换届记录。")
        else:
            typer.echo(f"预览：{len(lines)} 条换届记录。")
            typer.echo("未做任何修改。核对无误后加 --yes 再运行一次即登记。")
        return
    if name is None:
        rows = _operate(config, lambda s: rules.states(s, today), write=False)
        for line in rules.county_lines(rows, today):
            typer.echo(line)
        return
    if elected is None:
        from storage import branches as ops

        async def one(s: Any) -> list[Any]:
            branch = await ops.branch_named(s, name)
            assert branch.id is not None
            return await rules.states(s, today, [branch.id])

        (row,) = _operate(config, one, write=False)
        for line in rules.branch_lines(row, today):
            typer.echo(line)
        return
    try:
        day = parse_date(elected)
        rules.check_elected(day, today)
        rules.check_years(years)
    except ArgError as exc:
        raise _fail(str(exc)) from None
    row = rules.TermRow(0, name, day, years)

    async def record(s: Any) -> list[str]:
        try:
            return await rules.record_terms(s, [row], now, "branch term", apply=True)
        except rules.TermError as exc:
            from storage.branches import OperatorError

            raise OperatorError(exc.problems[0]) from None

    (line,) = _operate(config, record, write=True)
    typer.echo(f"已登记：{line}")


console_cli = typer.Typer(help="看板（网页控制台）的登录会话。", no_args_is_help=True)
cli.add_typer(console_cli, name="console")


@console_cli.command("revoke")
def console_revoke(
    phone: Annotated[str | None, typer.Argument(help="只结束这个人的会话（手机号）")] = None,
    everyone: Annotated[bool, typer.Option("--all", help="结束所有人的会话")] = False,
    config: ConfigOpt = None,
) -> None:
    """结束看板登录会话：被结束的人再打开看板需要在聊天里重新发送“看板”。"""
    from storage import console
    from storage.branches import member_with_phone

    if (phone is None) == (not everyone):
        raise _fail("请写手机号（结束这个人的会话），或写 --all（结束所有人的会话），二选一。")
    now = datetime.now(UTC)

    async def change(s: Any) -> tuple[str, int]:
        if phone is None:
            return "所有人", await console.revoke(s, now)
        m = await member_with_phone(s, phone)
        return m.name, await console.revoke(s, now, m.id)

    who, n = _operate(config, change, write=True)
    typer.echo(f"已结束{who}的 {n} 个看板会话。" if n else f"{who}没有正在使用的看板会话。")


def main() -> None:
    os.environ.setdefault("PYTHONIOENCODING", "utf-8")
    try:
        cli()
    except Exception as exc:  # the last net: an operator gets one line, not a traceback
        if os.environ.get("QINGFENG_DEBUG"):
            raise
        typer.echo(
            f"出错了：{type(exc).__name__}: {exc}（设置环境变量 QINGFENG_DEBUG=1 可看详细信息）",
            err=True,
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
