"""纪要 编号 议题；内容: a meeting's record for the 台账, with images sent soon after; 台账
[期间]: a link to the workbook of the period's meetings, laid out like a 三会一课 记录本."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.clock import as_utc
from bot.context import Context, Services
from bot.export_tokens import LEDGER, ExportGrant, export_url
from bot.messages import Reply
from bot.router import ArgError, Command, normalize
from handlers import accounting, text
from handlers.args import plain_text
from handlers.events import numbered_meeting, parse_number_word, title
from handlers.periods import Period, PeriodError, parse_period
from handlers.summary import Refusal, resolve_scope, split_args
from storage import members, minutes
from storage.models import Event, MeetingNote, Role

TOPIC_LIMIT = 100
BODY_LIMIT = 1000  # per message; a record may take several
IMAGE_LIMIT = 1000  # MeetingNote.image
CAPTION_LIMIT = 200
# A picture attaches to the meeting of the sender's last 纪要 within this long.
IMAGE_WINDOW = timedelta(minutes=10)
IMAGE_HINT = "图片只在发送「纪要 编号 …」后 10 分钟内附到那次会议的纪要，这张未作记录。"
TEXT_ONLY = "目前只能处理文字消息。发送「帮助」查看可用命令。"
USAGE = "纪要 编号 议题；内容"
LEDGER_USAGE = "台账 [期间]"


@dataclass(frozen=True)
class MinutesArgs:
    number: int
    words: str  # everything after the number; "" shows the record so far


def parse_minutes(rest: str) -> MinutesArgs:
    first, _, tail = rest.strip().partition(" ")
    if not first:
        raise ArgError("请写活动编号，如：纪要 3 议题；内容（发送「日程」查看编号）")
    number = parse_number_word(first)
    if number is None:
        raise ArgError("编号应是数字，如：纪要 3 议题；内容")
    return MinutesArgs(number, tail.strip())


def split_topic(words: str) -> tuple[str, str]:
    """(议题, 内容): the topic is what comes before the first ；or ;, when there is one."""
    cut = min((i for i in (words.find("；"), words.find(";")) if i >= 0), default=-1)
    if cut < 0:
        return "", words
    return words[:cut].strip(), words[cut + 1 :].strip()


def _checked(value: str, what: str, limit: int) -> str | Reply:
    try:
        return plain_text(value, what, limit)
    except ArgError as exc:
        return Reply(str(exc))


async def write_minutes(ctx: Context, args: MinutesArgs) -> Reply:
    tz = ctx.services.clock.tz
    event = await numbered_meeting(ctx, args.number)
    if isinstance(event, Reply):
        return event
    assert event.id is not None
    if not args.words:
        return await _show(ctx, event)
    if event.cancelled_at is not None:
        return Reply(f"{title(event, tz)} 已取消，不能记纪要。")
    if as_utc(event.starts_at) > ctx.now:
        return Reply(f"{title(event, tz)} 还没有开始，会后再记纪要。")
    topic, body = split_topic(args.words)
    topic = _checked(topic, "议题", TOPIC_LIMIT)
    if isinstance(topic, Reply):
        return topic
    body = _checked(body, "纪要内容", BODY_LIMIT)
    if isinstance(body, Reply):
        return body
    if not body:
        return Reply(f"请在议题后写纪要内容，如：纪要 {event.number} 议题；内容")
    by = ctx.require_member()
    assert by.id is not None
    await minutes.add(ctx.session, event.id, by.id, ctx.now, topic=topic, body=body)
    image = ctx.msg.image
    if image and len(image) <= IMAGE_LIMIT:  # a picture sent with the words (图文混排)
        await minutes.add(ctx.session, event.id, by.id, ctx.now, image=image)
    notes = await minutes.notes_of(ctx.session, event.id)
    lines = [f"✅ 已记入纪要：{title(event, tz)}"]
    if topic:
        lines.append(f"议题：{topic}")
    lines.append(f"本次会议已有纪要 {_count(notes)}。")
    lines.append("10 分钟内发给我的照片会附在这次会议的纪要里。")
    return Reply("\n".join(lines))


def _count(notes: Sequence[MeetingNote]) -> str:
    texts = sum(1 for n in notes if not n.image)
    images = len(notes) - texts
    return f"{texts} 条" + (f"，图片 {images} 张" if images else "")


async def _show(ctx: Context, event: Event) -> Reply:
    assert event.id is not None
    tz = ctx.services.clock.tz
    notes = await minutes.notes_of(ctx.session, event.id)
    head = title(event, tz) + ("（已取消）" if event.cancelled_at is not None else "")
    if not notes:
        return Reply(f"{head} 还没有纪要。发送「纪要 {event.number} 议题；内容」记录。")
    parts = [f"📝 {head} 纪要 {_count(notes)}"]
    if topics := _topics(notes):
        parts[0] += f"\n议题：{topics}"
    authors = await minutes.author_names(ctx.session, notes)
    for i, n in enumerate((n for n in notes if not n.image), 1):
        when = text.when(as_utc(n.at).astimezone(tz))
        parts.append(f"{i}. {n.body}（{authors.get(n.by_member_id or 0, '')} {when}）")
    return Reply("\n\n".join(parts))


def _topics(notes: Sequence[MeetingNote]) -> str:
    """The meeting's 议题, each once, in the order written."""
    return "；".join(dict.fromkeys(n.topic for n in notes if n.topic))


# ---- a picture sent to the bot ----------------------------------------------------------


async def attach_image(ctx: Context) -> Reply:
    """A picture alone (the dispatcher sends those here): attached to the meeting of the
    sender's last 纪要 if she wrote it within IMAGE_WINDOW and sends the picture in her
    direct chat or in a group of that meeting's branch; otherwise nothing is written."""
    member, image = ctx.member, ctx.msg.image
    role = ctx.role
    if member is None or member.id is None or role is None or role.rank < Role.SECRETARY.rank:
        return Reply(TEXT_ONLY)  # only a secretary's pictures are kept, for a 纪要
    if not image or len(image) > IMAGE_LIMIT:
        return Reply(IMAGE_HINT)
    found = await minutes.last_written(ctx.session, member.id, ctx.now - IMAGE_WINDOW)
    if found is None:
        return Reply(IMAGE_HINT)
    _, event = found
    assert event.id is not None
    in_group = ctx.msg.chat_type == "group"
    if in_group and (ctx.group is None or ctx.group.branch_id != event.branch_id):
        return Reply(IMAGE_HINT)
    if event.cancelled_at is not None:
        return Reply(IMAGE_HINT)
    # A caption ("会议现场") stays with the picture, for the 台账.
    caption = normalize(ctx.msg.text)[:CAPTION_LIMIT]
    await minutes.add(ctx.session, event.id, member.id, ctx.now, image=image, body=caption)
    notes = await minutes.notes_of(ctx.session, event.id)
    images = sum(1 for n in notes if n.image)
    # Only the platform's reference is kept, and those expire (a WeCom URL in minutes):
    # say so, so the original goes into the paper 台账 too.
    return Reply(
        f"📎 已附到纪要：{title(event, ctx.services.clock.tz)}（图片 {images} 张）\n"
        "平台的图片链接有时效，原图请另存入支部台账。"
    )


# ---- 台账 -------------------------------------------------------------------------------


def _is_period(word: str, ctx: Context) -> bool:
    try:
        parse_period(word, ctx.today)
    except PeriodError:
        return False
    return True


async def ledger_link(ctx: Context, rest: str) -> Reply:
    try:
        period, branch_name = split_args(ctx, rest)
        if not any(_is_period(w, ctx) for w in rest.split()):
            period = parse_period("本年", ctx.today)  # a 台账 is kept by the year
        scope = await resolve_scope(ctx, branch_name, group_first=True)
    except ArgError as exc:
        return Reply(f"{exc}\n用法：{LEDGER_USAGE}")
    except Refusal as exc:
        return Reply(str(exc))
    w = accounting.window(ctx.services, period, ctx.now)
    held = await minutes.ledger(ctx.session, scope.branch_ids, w)
    without = sum(1 for m in held if not any(not n.image for n in m.notes))
    settings = ctx.settings
    expires = ctx.now + timedelta(hours=settings.server.export_ttl_hours)
    grant = ExportGrant(scope.branch_id, period, expires, LEDGER)
    url = await export_url(ctx.session, settings, grant)
    until = expires.astimezone(ctx.services.clock.tz)
    lines = [f"📒 {scope.label} · 台账 · {period.label}（{period.first} ~ {period.last}）"]
    count = f"会议 {len(held)} 次"
    lines.append(count + (f"，其中 {without} 次还没有纪要。" if without else "。"))
    lines.append(f"📎 三会一课记录 Excel（{text.when(until)} 前有效）：\n{url}")
    return Reply("\n".join(lines))


async def ledger_workbook(
    s: AsyncSession, services: Services, branch_id: int | None, period: Period, now: datetime
) -> bytes | None:
    """The 台账 .xlsx of a branch (None: every branch); None if the branch is gone."""
    if branch_id is None:
        branch_ids, label = None, "全县"
    else:
        branch = await members.branch_by_id(s, branch_id)
        if branch is None:
            return None
        branch_ids, label = [branch_id], branch.name
    held = await minutes.ledger(s, branch_ids, accounting.window(services, period, now))
    authors = await minutes.author_names(s, [n for m in held for n in m.notes])
    # openpyxl pulls in numpy and Pillow: load it when a workbook is asked for, not at start.
    from storage.ledger_xlsx import build_ledger

    return build_ledger(
        title=f"清风 · {label} · 台账 · {period.first} ~ {period.last}",
        meetings=held,
        authors=authors,
        tz=services.clock.tz,
    )


COMMANDS = [
    Command(
        name="纪要",
        role=Role.SECRETARY,
        usage=f"{USAGE} / 纪要 编号",
        summary="为已开始的活动记会议纪要（可多条，10 分钟内发的照片附上）；只写编号查看",
        run=write_minutes,
        parse=parse_minutes,
    ),
    Command(
        name="台账",
        role=Role.SECRETARY,
        usage=LEDGER_USAGE,
        summary="三会一课记录 Excel（每次会议的人员与纪要，默认本年，链接限时有效）",
        run=ledger_link,
    ),
]
