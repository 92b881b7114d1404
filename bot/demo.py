"""`qingfeng demo`: the whole bot on a fresh SQLite file with a sample county, at a prompt."""

from __future__ import annotations

import asyncio
import itertools
import re
import socket
from collections.abc import Callable
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

from aiohttp import web

from bot.app import App
from bot.clock import FakeClock
from bot.config import Settings, load_settings
from bot.console_links import login_url
from bot.messages import IncomingMessage
from bot.platforms.console import BOT_NAME, ConsolePlatform, indent, render
from handlers.roster import RosterError, import_roster
from schedules.holidays import HolidayCalendar
from schedules.occurrences import LOOKAHEAD
from storage import members, outbox, study
from storage.engine import Database
from storage.migrate import upgrade

BUREAU = "县教育局机关党支部"
DEMO_ADMIN = "周建国"
SCHOOLS = ["县第一中学党支部", "县实验小学党支部", "城关镇中心学校党支部"]
# Left unbound in the demo, to show 绑定.
UNBOUND = {"吴海燕", "林雪"}
# An export link in a reply: the demo has no web server, so it saves the file itself.
EXPORT_LINK = re.compile(r"/exports/([A-Za-z0-9._-]+)")

DEMO_HELP = """演示命令：
  /as 姓名          以某人身份发言（例：/as 王晓梅）
  /time YYYY-MM-DD HH:MM   把时钟拨到某一时刻
  /私聊 /群聊        切换私聊或本支部群
  /who              当前身份、时间和会话
  /people           示例人员名单
  /roster 文件       按演示时钟的此刻导入花名册（.csv 或 .xlsx，列同 roster import），
                    新增的人即刻入册并可 /as 发言（例：/roster 新成员.csv）
  /quit             退出
其余输入都当作发给机器人的消息（如：签到、学习、我的、帮助）。
「看板」和「导出」的链接在演示运行期间可用本机浏览器打开；导出的 Excel 同时存到当前目录。"""


def local_socket(preferred: int = 8080) -> socket.socket:
    """A listening socket for the demo's web pages: on `preferred` when it is free, else
    any free port. Bound here and kept, so no other program can take the port between
    choosing it and serving (two demos at once each get their own)."""
    for port in (preferred, 0):
        sock = socket.socket()
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            sock.close()
            continue
        sock.listen(128)
        return sock
    raise OSError("no free port on 127.0.0.1")


def demo_settings(db_path: Path, config: str | None = None, port: int = 8080) -> Settings:
    groups = [
        {"name": f"{b}群", "branch": b, "platform": "console", "chat_id": f"{b}群"}
        for b in [BUREAU, *SCHOOLS]
    ]
    return load_settings(
        config,
        database={"url": f"sqlite+aiosqlite:///{db_path}"},
        branches=[{"name": BUREAU, "daily_checkin": True}],
        groups=groups,
        server={"host": "127.0.0.1", "port": port, "public_url": f"http://127.0.0.1:{port}"},
    )


def _roster_file() -> Path:
    return Path(str(resources.files("bot").joinpath("demo_roster.csv")))


async def seed(db: Database, clock: FakeClock, calendar: HolidayCalendar) -> None:
    """The sample county: roster, console accounts and study tasks.

    The 主题党日 and 三会一课 events come from the reminder rules when the demo starts.
    """
    await upgrade(db)
    await import_roster(db, _roster_file(), clock.now())
    local = clock.now().astimezone(clock.tz)
    async with db.write() as s:
        for member, _ in await members.all_members(s):
            assert member.id is not None
            if member.name not in UNBOUND:
                await members.bind_account(s, "console", member.name, member.id)
        await study.create_task(
            s,
            "学习党的二十大报告全文",
            "https://www.gov.cn/xinwen/2022-10/25/content_5721685.htm",
            None,
            (local + timedelta(days=10)).date(),
            None,
            created_at=clock.now(),
        )
        await study.create_task(
            s, "《中国共产党纪律处分条例》第四章", "", None, None, None, created_at=clock.now()
        )


class Demo:
    """Reads lines as a member would type them and prints what the group would see."""

    def __init__(self, app: App, clock: FakeClock, out: Callable[[str], None]) -> None:
        self.app = app
        self.clock = clock
        self.out = out
        self.speaker = "王晓梅"
        self.direct = False
        self._ids = itertools.count(1)

    async def _speaker_branch(self) -> str:
        async with self.app.db.read() as s:
            for member, branch in await members.all_members(s):
                if member.name == self.speaker:
                    return branch.name
        return BUREAU

    async def feed(self, line: str) -> bool:
        """Handle one input line; False when the user asked to quit."""
        line = line.strip()
        if not line or line.startswith("#"):
            return True
        if line.startswith("/"):
            word, _, rest = line[1:].partition(" ")
            handled = await self._meta(word, rest.strip())
            if handled is not None:
                return handled
        branch = await self._speaker_branch()
        chat = f"私聊·{self.speaker}" if self.direct else f"{branch}群"
        self.out(f"[{chat}] {self.speaker}: {line}")
        msg = IncomingMessage(
            platform="console",
            message_id=f"console-{next(self._ids)}",
            chat_type="direct" if self.direct else "group",
            chat_id=self.speaker if self.direct else f"{branch}群",
            sender_id=self.speaker,
            sender_name=self.speaker,
            chat_title=chat,
            text=line if self.direct else f"@{BOT_NAME} {line}",
        )
        reply = await self.app.dispatcher.handle(msg)
        self.out(f"{BOT_NAME}:\n{indent(render(reply))}")
        if found := EXPORT_LINK.search(reply.text):
            await self._download(found[1])
        return True

    async def _download(self, token: str) -> None:
        """Save the workbook behind an export link, as a browser opening it would."""
        got = await self.app.exports.workbook(token)
        if isinstance(got, str):
            self.out(f"（{got}）")
            return
        name, body = got
        path = Path.cwd() / name  # where a browser's download would land: here
        await asyncio.to_thread(path.write_bytes, body)
        self.out(f"（链接里的 Excel 已保存到 {path}）")

    async def _meta(self, word: str, rest: str) -> bool | None:
        """Demo commands; None when `word` is not one (then the line goes to the bot)."""
        if word in ("quit", "exit", "q"):
            return False
        if word in ("help", "h") and not rest:
            self.out(DEMO_HELP)
            return True
        if word == "as":
            async with self.app.db.read() as s:
                found = await members.members_named(s, rest)
            if not found:
                self.out(f"（没有叫“{rest}”的人，/people 查看名单）")
            else:
                self.speaker = rest
                self.out(f"（现在以 {rest} 的身份发言）")
            return True
        if word == "time":
            return await self._move_clock(rest)
        if word in ("私聊", "dm"):
            self.direct = True
            self.out("（切换到与机器人的私聊）")
            return True
        if word in ("群聊", "group"):
            self.direct = False
            self.out("（切换到本支部群）")
            return True
        if word == "who":
            local = self.clock.now().astimezone(self.clock.tz)
            where = "私聊" if self.direct else f"{await self._speaker_branch()}群"
            self.out(f"（{self.speaker} · {where} · {local:%Y-%m-%d %H:%M} {local.tzname()}）")
            return True
        if word == "roster":
            return await self._import_roster(rest)
        if word == "people":
            async with self.app.db.read() as s:
                rows = await members.all_members(s)
            lines, current = [], ""
            for m, b in rows:
                if b.name != current:
                    current = b.name
                    lines.append(current)
                mark = "（未绑定）" if m.name in UNBOUND else ""
                lines.append(f"  {m.name} {m.status} {m.role} 手机尾号{m.phone[-4:]}{mark}")
            self.out("\n".join(lines))
            return True
        return None

    async def _import_roster(self, rest: str) -> bool:
        """The CLI's `roster import` at the demo clock's time, so whoever it adds joins now
        (what they owe counts from this moment); the new people get console accounts."""
        if not rest:
            self.out("（用法：/roster 文件，例：/roster 新成员.csv）")
            return True
        path = Path(rest)
        if not await asyncio.to_thread(path.is_file):
            self.out(f"（找不到文件 {path}）")
            return True
        async with self.app.db.read() as s:
            before = {m.id for m, _ in await members.all_members(s)}
        try:
            result = await import_roster(self.app.db, path, self.clock.now())
        except RosterError as exc:
            problems = "\n".join(f"  {p}" for p in exc.problems)
            self.out(f"（花名册有 {len(exc.problems)} 处错误，未导入任何人员）\n{problems}")
            return True
        added, clashes = [], []
        async with self.app.db.write() as s:
            for member, _ in await members.all_members(s):
                if member.id is None or member.id in before:
                    continue
                # In the demo a person's console account is their name: one already taken
                # cannot be given to a second person of that name.
                taken, _ = await members.member_and_branch_by_account(s, "console", member.name)
                if taken is not None:
                    clashes.append(member.name)
                    continue
                await members.bind_account(s, "console", member.name, member.id)
                added.append(member.name)
        local = self.clock.now().astimezone(self.clock.tz)
        lines = [
            f"（{local:%Y-%m-%d %H:%M} 导入花名册：新增 {result.added} 人，"
            f"更新 {result.updated} 人，未变 {result.unchanged} 人）"
        ]
        if added:
            lines.append(f"（新入册：{'、'.join(added)}，可用 /as 姓名 发言）")
        if clashes:
            lines.append(f"（与已有的人重名，演示里无法以其身份发言：{'、'.join(clashes)}）")
        self.out("\n".join(lines))
        return True

    async def _move_clock(self, rest: str) -> bool:
        m = re.fullmatch(r"(\d{4}-\d{1,2}-\d{1,2})[ T](\d{1,2}:\d{2})", rest)
        if not m:
            self.out("（用法：/time YYYY-MM-DD HH:MM）")
            return True
        try:
            when = datetime.strptime(f"{m[1]} {m[2]}", "%Y-%m-%d %H:%M")
        except ValueError:
            self.out(f"（没有这个时刻：{rest}）")
            return True
        target = when.replace(tzinfo=self.clock.tz)
        if target > self.clock.now():
            await self._run_until(target)
        self.clock.set(target)
        await self.app.reminders.tick()
        self.out(f"（时钟已拨到 {when:%Y-%m-%d %H:%M}）")
        return True

    async def _run_until(self, target: datetime) -> None:
        """Stop at each moment a push falls due on the way, so each prints once, in order."""
        while True:
            await self.app.reminders.planner.generate(self.app.db)
            now = self.clock.now()
            async with self.app.db.read() as s:
                due = await outbox.next_due(s, now, min(target, now + LOOKAHEAD))
            if due is None:
                if now + LOOKAHEAD >= target:
                    return
                self.clock.set(now + LOOKAHEAD)
                continue
            self.clock.set(due)
            self.out(f"⏰ {due.astimezone(self.clock.tz):%Y-%m-%d %H:%M}")
            await self.app.reminders.worker.run_due()


async def console_banner(app: App) -> str:
    """The admin's 看板 link, to open in a browser on this machine right away."""
    async with app.db.write() as s:
        admin = (await members.members_named(s, DEMO_ADMIN))[0]
        assert admin.id is not None
        url = await login_url(s, app.settings, admin.id, app.clock.now())
    return (
        f"网页看板（以管理员{DEMO_ADMIN}登录，10 分钟内有效、只能打开一次）：\n  {url}\n"
        f"  过期或用过后，/as {DEMO_ADMIN}（或某位书记）再发送“看板”获取新链接。"
    )


async def run_demo(
    db_path: Path,
    start: datetime | None,
    stdin: TextIO,
    out: Callable[[str], None],
    config: str | None = None,
) -> None:
    sock = local_socket()
    try:
        await _run(sock, db_path, start, stdin, out, config)
    finally:
        sock.close()  # closing twice is harmless; an early failure must not leak it


async def _run(
    sock: socket.socket,
    db_path: Path,
    start: datetime | None,
    stdin: TextIO,
    out: Callable[[str], None],
    config: str | None,
) -> None:
    settings = demo_settings(db_path, config, int(sock.getsockname()[1]))
    clock = FakeClock(start or datetime.now(settings.tz), settings.tz)
    app = App(settings, clock=clock, platforms=[ConsolePlatform(out)])
    try:
        await seed(app.db, clock, app.calendar)  # the schema first: initialize checks it
    except BaseException:
        await app.shutdown()
        raise
    async with app:
        await app.start()
        # The 看板 and export links work while the demo runs: its own web server, local only.
        runner = web.AppRunner(app.web_app(), access_log=None)
        await runner.setup()
        try:
            await web.SockSite(runner, sock).start()
            await _converse(app, Demo(app, clock, out), db_path, stdin, out)
        finally:
            await runner.cleanup()


async def _converse(
    app: App, demo: Demo, db_path: Path, stdin: TextIO, out: Callable[[str], None]
) -> None:
    """Read lines until end of input or /quit."""
    clock = demo.clock
    # Rule events and rows ahead; a fresh county does not catch up on the morning's pushes.
    await app.reminders.planner.generate(app.db, since=clock.now())
    interactive = stdin.isatty()
    local = clock.now().astimezone(clock.tz)
    out(
        f"清风 演示 · 示例县（1 个局机关支部、3 所学校）· 数据库 {db_path}\n"
        f"时钟：{local:%Y-%m-%d %H:%M}，当前身份：{demo.speaker}。输入 /help 查看演示命令。"
    )
    out(await console_banner(app))
    loop = asyncio.get_running_loop()
    try:
        while True:
            if interactive:
                out_prompt = f"{demo.speaker}> "
                line: Any = await loop.run_in_executor(None, input, out_prompt)
            else:
                line = await loop.run_in_executor(None, stdin.readline)
                if line == "":
                    break
            if not await demo.feed(line):
                break
    except (EOFError, KeyboardInterrupt):
        pass
