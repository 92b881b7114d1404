"""纪要 编号 议题；内容 and the pictures sent after it; the 台账 workbook; the reminder about a
meeting left without a record for 7 days."""

from __future__ import annotations

import io
import json
import re

import pytest
from aiohttp.test_utils import TestClient, TestServer
from openpyxl import load_workbook
from sqlmodel import select

from bot.platforms.dingtalk.callback import parse
from handlers.minutes import IMAGE_HINT, TEXT_ONLY
from storage.models import MeetingNote
from tests.conftest import at
from tests.dingtalk_harness import dingtalk_bot
from tests.fakes.dingtalk import callback_payload
from tests.fakes.wecom import aibot_image, aibot_text, app_image
from tests.test_schedules_reminders import recorder

pytest_plugins = ["tests.fakes.wecom_fixtures"]


async def _notes(app) -> list[MeetingNote]:
    async with app.db.read() as s:
        return list((await s.exec(select(MeetingNote).order_by(MeetingNote.id))).all())


async def _arrange(chat, clock, what: str, sender: str = "li", **kw) -> int:
    """安排 a meeting at 09:00 on 2026-12-01 (before its time) and return its number."""
    clock.set(at("2026-12-01 09:00"))
    reply = await chat.text(sender, f"安排 {what}", **kw)
    m = re.search(r"#(\d+)", reply)
    assert m, reply
    return int(m[1])


@pytest.fixture
async def held(chat, clock) -> int:
    """机关's 党员大会 on 12月3日 15:00: 李书记 on time, 王党员 late, 孙预备 on leave."""
    number = await _arrange(chat, clock, "党员大会 2026-12-03 15:00 三楼会议室")
    await chat.text("sun", f"请假 {number} 外出培训")
    clock.set(at("2026-12-03 14:50"))
    assert "签到" in await chat.text("li", "签到")
    clock.set(at("2026-12-03 15:20"))
    await chat.text("wang", "签到")
    clock.set(at("2026-12-03 17:00"))
    return number


# ---- 纪要 -----------------------------------------------------------------------------


async def test_minutes_appended_twice_and_shown(app, chat, held) -> None:
    reply = await chat.text("li", f"纪要 {held} 学习贯彻全会精神；传达了全会精神，大家交流发言")
    assert reply.startswith("✅ 已记入纪要：党员大会 #")
    assert "议题：学习贯彻全会精神" in reply and "已有纪要 1 条" in reply
    reply = await chat.text("li", f"纪要 {held} 王党员谈了学习体会")
    assert "已有纪要 2 条" in reply and "议题" not in reply
    notes = await _notes(app)
    assert [(n.topic, n.body) for n in notes] == [
        ("学习贯彻全会精神", "传达了全会精神，大家交流发言"),
        ("", "王党员谈了学习体会"),
    ]
    shown = await chat.text("li", f"纪要 {held}")
    assert "纪要 2 条" in shown and "议题：学习贯彻全会精神" in shown
    assert "1. 传达了全会精神，大家交流发言（李书记" in shown
    assert "2. 王党员谈了学习体会（李书记" in shown


async def test_half_width_semicolon_and_admin_in_the_branch_group(app, chat, held) -> None:
    reply = await chat.text("zhou", f"纪要 #{held} 组织生活;发言热烈")
    assert "议题：组织生活" in reply
    (note,) = await _notes(app)
    assert (note.topic, note.body) == ("组织生活", "发言热烈")


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("99 议题；内容", "本支部没有编号为 99 的活动，发送「日程」查看编号。"),
        ("{n} 议题；", "请在议题后写纪要内容，如：纪要 {n} 议题；内容"),
        ("{n} " + "长" * 1001, "纪要内容请控制在 1000 字以内。"),
        ("{n} " + "题" * 101 + "；内容", "议题请控制在 100 字以内。"),
    ],
)
async def test_refusals_write_nothing(app, chat, held, words, expected) -> None:
    reply = await chat.text("li", "纪要 " + words.format(n=held))
    assert reply == expected.format(n=held)
    assert await _notes(app) == []


async def test_a_meeting_not_yet_started_or_cancelled_is_refused(app, chat, clock) -> None:
    number = await _arrange(chat, clock, "党课 2026-12-10 15:00")
    reply = await chat.text("li", f"纪要 {number} 议题；内容")
    assert reply.endswith("还没有开始，会后再记纪要。") and "\n" not in reply
    await chat.text("li", f"取消 {number} 改期另定")
    reply = await chat.text("li", f"纪要 {number} 议题；内容")
    assert reply.endswith("已取消，不能记纪要。") and "\n" not in reply
    assert await _notes(app) == []


async def test_a_member_and_another_branch_are_refused(app, chat, held) -> None:
    assert "仅限" in await chat.text("wang", f"纪要 {held} 议题；内容")
    # 陈书记 of 一中: number `held` is not a meeting of her branch (or not this one).
    reply = await chat.text("chen", f"纪要 {held} 议题；内容", chat="wr-school")
    assert "本支部没有编号" in reply
    assert await _notes(app) == []


async def test_nothing_yet_is_said_so(chat, held) -> None:
    reply = await chat.text("li", f"纪要 {held}")
    assert reply.endswith(f"还没有纪要。发送「纪要 {held} 议题；内容」记录。")


# ---- 台账 -----------------------------------------------------------------------------


@pytest.fixture
async def client(app):
    async with TestClient(TestServer(app.web_app())) as c:
        yield c


async def _workbook(client, reply: str):
    url = reply.splitlines()[-1]
    assert url.startswith("http://127.0.0.1:8080/exports/2."), reply
    resp = await client.get(url.removeprefix("http://127.0.0.1:8080"))
    assert resp.status == 200
    assert "%E5%8F%B0%E8%B4%A6" in resp.headers["Content-Disposition"]  # 台账
    return load_workbook(io.BytesIO(await resp.read()))


async def test_ledger_holds_each_meeting_with_its_names_and_record(
    app, chat, clock, held, client
) -> None:
    await chat.text("li", f"纪要 {held} 学习贯彻全会精神；传达全会精神")
    await chat.text("li", f"纪要 {held} 大家交流发言")
    # Two pictures right after, one with a caption.
    await chat.text("li", "", image="https://wework.example/pic/a")
    await chat.text("li", "会议现场", image="https://wework.example/pic/b")
    lecture = await _arrange(chat, clock, "党课 2026-12-04 15:00 报告厅")
    await _arrange(chat, clock, "主题党日 2026-12-20 15:00")  # not held yet: not in the book
    cancelled = await _arrange(chat, clock, "支委会 2026-12-02 15:00")
    await chat.text("li", f"取消 {cancelled}")
    clock.set(at("2026-12-10 09:00"))
    reply = await chat.text("li", "台账")
    assert reply.startswith("📒 县教育局机关党支部 · 台账 · 本年（2026-01-01 ~ 2026-12-31）")
    assert "会议 2 次，其中 1 次还没有纪要。" in reply
    wb = await _workbook(client, reply)
    assert wb.sheetnames == ["党员大会", "党课"]
    ws = wb["党员大会"]
    head = [c.value for c in ws[1]]
    assert head[:7] == ["日期", "时间", "地点", "支部", "类型", "编号", "议题"]
    row = dict(zip(head, (c.value for c in ws[2]), strict=True))
    assert ws.max_row == 2
    assert row["时间"] == "15:00" and row["地点"] == "三楼会议室" and row["编号"] == held
    assert row["日期"].date().isoformat() == "2026-12-03"
    assert row["议题"] == "学习贯彻全会精神"
    assert row["应到"] == "4 人：周管理、李书记、王党员、孙预备"
    assert row["出席"] == "李书记" and row["迟到"] == "王党员"
    assert row["请假"] == "孙预备（外出培训）" and row["缺席"] == "周管理"
    assert row["记录"] == "传达全会精神（李书记）\n大家交流发言（李书记）"
    assert row["图片"] == (
        "2 张\nhttps://wework.example/pic/a\n会议现场：https://wework.example/pic/b"
    )
    assert ws.page_setup.orientation == "landscape" and ws.print_title_rows == "$1:$1"
    lecture_row = [c.value for c in wb["党课"][2]]
    assert lecture_row[5] == lecture and lecture_row[12] in ("", None)


async def test_ledger_link_cannot_be_turned_into_another_workbook(app, chat, held, client):
    reply = await chat.text("li", "台账")
    path = reply.splitlines()[-1].removeprefix("http://127.0.0.1:8080")
    forged = path.replace("/exports/2.", "/exports/1.")
    assert (await client.get(forged)).status == 403


async def test_ledger_of_a_named_period_and_an_empty_one(app, chat, held, client) -> None:
    reply = await chat.text("li", "台账 2026-11")
    assert "会议 0 次。" in reply
    wb = await _workbook(client, reply)
    assert wb.sheetnames == ["台账"]
    reply = await chat.text("li", "台账 本年 县第一中学党支部")
    assert reply == "您只能查看本支部（县教育局机关党支部）的数据。"


# ---- the reminder after 7 days ---------------------------------------------------------


def _minutes_notes(sent, number: int | None = None) -> list[str]:
    """The notes 李书记 got (about meeting `number` only, when given)."""
    texts = [t for t in sent.to("li") if "还没有会议纪要" in t]
    return [t for t in texts if number is None or f"#{number}（" in t]


async def test_a_meeting_without_a_record_is_mentioned_once_after_7_days(
    app, chat, clock, held
) -> None:
    sent = recorder(app)
    for day in ("2026-12-04 09:00", "2026-12-10 09:00"):  # not yet: within 7 days
        clock.set(at(day))
        await app.reminders.tick()
    assert _minutes_notes(sent) == []
    clock.set(at("2026-12-11 09:00"))  # Friday, the 8th day after Thursday's meeting
    await app.reminders.tick()
    [note] = _minutes_notes(sent, held)
    head = f"📝 党员大会 #{held}（12月3日(周四) 15:00）已过去 7 天，还没有会议纪要。"
    assert note.startswith(head)
    assert f"纪要 {held} 议题；内容" in note and f"取消 {held}" in note
    for day in ("2026-12-11 10:00", "2026-12-14 09:00"):
        clock.set(at(day))
        await app.reminders.tick()
    assert len(_minutes_notes(sent, held)) == 1  # once only
    # 一中's secretary hears of her own branch's meetings only.
    assert [t for t in sent.to("chen") if "党员大会" in t] == []


async def test_no_mention_when_a_record_was_added_meanwhile(app, chat, clock, held) -> None:
    sent = recorder(app)
    clock.set(at("2026-12-10 09:00"))
    await app.reminders.tick()  # the row is written ahead of time...
    await chat.text("li", f"纪要 {held} 学习；传达精神")
    clock.set(at("2026-12-11 09:00"))
    await app.reminders.tick()  # ...and rendered to nothing when it falls due
    assert _minutes_notes(sent, held) == []


async def test_an_old_meeting_is_never_mentioned(app, chat, clock) -> None:
    sent = recorder(app)
    number = await _arrange(chat, clock, "党课 2026-12-02 15:00")
    # The bot was down (or upgraded) for over a month: the note's day long passed.
    clock.set(at("2027-01-20 09:00"))
    await app.reminders.tick()
    assert [t for t in sent.to("li") if f"#{number}" in t] == []


# ---- pictures through the platforms' callbacks ----------------------------------------


async def _image_notes(app) -> list[str]:
    return [n.image for n in await _notes(app) if n.image]


async def _aibot_says(bot, msgid: str, user: str, text: str, chatid: str = "wr-0") -> str:
    reply = await bot.aibot_reply(aibot_text(msgid, user, text, chatid=chatid))
    return reply["stream"]["content"]


async def _aibot_meeting(bot, clock) -> int:
    """机关's 党课 on 12月3日 15:00 (wr-0 is 机关's group), arranged by 李书记, now over."""
    clock.set(at("2026-12-01 09:00"))
    reply = await _aibot_says(bot, "a-1", "li", "安排 党课 2026-12-03 15:00")
    number = int(re.search(r"#(\d+)", reply)[1])  # type: ignore[index]
    clock.set(at("2026-12-03 17:00"))
    assert "已记入纪要" in await _aibot_says(bot, "a-2", "li", f"纪要 {number} 党史；学习")
    return number


async def test_wecom_aibot_picture_in_the_group_within_10_minutes_is_attached(bot, clock):
    number = await _aibot_meeting(bot, clock)
    clock.set(at("2026-12-03 17:09"))
    url = "https://wework.example/pic/1"
    reply = await bot.aibot_reply(aibot_image("a-3", "li", url, chatid="wr-0"))
    assert reply["stream"]["content"] == (
        f"📎 已附到纪要：党课 #{number}（12月3日(周四) 15:00）（图片 1 张）\n"
        "平台的图片链接有时效，原图请另存入支部台账。"
    )
    # A picture with words (图文混排 with 纪要) attaches along with them.
    url2 = "https://wework.example/pic/2"
    mixed = aibot_image("a-4", "li", url2, chatid="wr-0", text=f"纪要 {number} 大家发言")
    assert "图片 2 张" in (await bot.aibot_reply(mixed))["stream"]["content"]
    assert await _image_notes(bot.app) == [url, url2]
    # The same picture delivered again is not attached twice.
    await bot.aibot_reply(aibot_image("a-3", "li", url, chatid="wr-0"))
    assert await _image_notes(bot.app) == [url, url2]
    # A picture with a caption that is no command is attached like one alone.
    url3 = "https://wework.example/pic/3"
    captioned = aibot_image("a-8", "li", url3, chatid="wr-0", text="会议现场")
    assert "图片 3 张" in (await bot.aibot_reply(captioned))["stream"]["content"]
    assert await _image_notes(bot.app) == [url, url2, url3]
    # The caption stays with it (the words of a 纪要 command are the record, not a caption).
    assert [n.body for n in await _notes(bot.app) if n.image] == ["", "", "会议现场"]


async def test_wecom_aibot_picture_after_10_minutes_or_from_others_is_not_kept(bot, clock):
    await _aibot_meeting(bot, clock)
    clock.set(at("2026-12-03 17:11"))
    reply = await bot.aibot_reply(aibot_image("a-5", "li", "https://w.example/late", chatid="wr-0"))
    assert reply["stream"]["content"] == IMAGE_HINT
    clock.set(at("2026-12-03 17:05"))
    reply = await bot.aibot_reply(aibot_image("a-6", "wang", "https://w.example/other"))
    assert reply["stream"]["content"] == TEXT_ONLY
    # 一中's group: not the meeting's branch.
    reply = await bot.aibot_reply(aibot_image("a-7", "li", "https://w.example/g", chatid="wr-1"))
    assert reply["stream"]["content"] == IMAGE_HINT
    assert await _image_notes(bot.app) == []


async def test_dingtalk_picture_in_a_direct_chat_is_attached(dt, clock) -> None:
    number = await _arrange(dt_chat(dt), clock, "党员大会 2026-12-03 15:00", sender="chen-dt")
    clock.set(at("2026-12-03 16:30"))
    answer = await dt.say(f"纪要 {number} 学习；传达精神", group=False)
    assert "已记入纪要" in answer["text"]["content"]
    clock.set(at("2026-12-03 16:35"))
    answer = await dt.say("", msgtype="picture", group=False)
    assert "（图片 1 张）" in answer["text"]["content"]
    assert await _image_notes(dt.app) == ["dl-code"]
    clock.set(at("2026-12-03 16:46"))  # 11 minutes after the 纪要
    answer = await dt.say("", msgtype="picture", group=False)
    assert answer["text"]["content"].endswith(IMAGE_HINT)
    assert await _image_notes(dt.app) == ["dl-code"]


def test_dingtalk_rich_text_gives_its_words_and_first_picture() -> None:
    raw = callback_payload(
        "纪要 3 发言", msg_id="m", staff_id="chen-dt", nick="陈书记", now_ms=0,
        session_webhook="https://oapi.dingtalk.com/robot/sendBySession?session=x",
        msgtype="richText",
    )  # fmt: skip
    message = parse(json.dumps(raw).encode())
    assert (message.text, message.image) == ("纪要 3 发言", "rt-code")
    assert message.incoming().image == "rt-code"


@pytest.fixture
async def dt(tmp_path, clock, roster_file, postgres_url):
    async with dingtalk_bot(tmp_path, clock, roster_file, postgres_url) as harness:
        yield harness


class dt_chat:
    """_arrange's `chat.text(sender, text)`, through the DingTalk callback (direct chat)."""

    def __init__(self, dt) -> None:
        self.dt = dt

    async def text(self, sender: str, text: str) -> str:
        answer = await self.dt.say(text, sender=sender, group=False)
        return answer["text"]["content"]


async def test_wecom_app_picture_in_the_direct_chat_is_attached(bot, clock) -> None:
    await _aibot_meeting(bot, clock)
    clock.set(at("2026-12-03 17:03"))
    resp = await bot.post_app(app_image(7101, "li", "https://wework.example/app/1"))
    reply = bot.wecom_app.open_xml_reply(await resp.text())
    assert "（图片 1 张）" in (reply.findtext("Content") or "")
    assert await _image_notes(bot.app) == ["https://wework.example/app/1"]


async def test_the_admin_gets_the_county_directly_and_a_groups_branch_there(
    app, chat, held, client
) -> None:
    reply = await chat.text("zhou", "台账", direct=True)
    assert reply.startswith("📒 全县 · 台账 · 本年") and "会议 1 次" in reply
    ws = (await _workbook(client, reply))["党员大会"]
    assert [c.value for c in ws[2]][3] == "县教育局机关党支部"
    reply = await chat.text("zhou", "台账", chat="wr-school")
    assert reply.startswith("📒 县第一中学党支部 · 台账 · 本年") and "会议 0 次" in reply
