"""廉洁自律承诺: 发布承诺, 承诺, 未承诺, 催承诺, the deadline push, 我的/汇总 and the export."""

from __future__ import annotations

from datetime import date, datetime
from io import BytesIO

from openpyxl import load_workbook
from sqlmodel import select

from bot.app import App
from handlers import pledges as pledge_handlers
from handlers.periods import parse_period
from handlers.summary import export_workbook
from storage import pledges, study
from storage.models import Pledge, PledgeConfirmation
from tests.conftest import BUREAU, SCHOOL, at, member_id
from tests.recording_transport import RecordingTransport

TITLE = "2027年度教师廉洁自律承诺"


def recorder(app: App) -> RecordingTransport:
    t = RecordingTransport()
    app.transports["wecom"] = t
    return t


async def add_pledge(app: App, due: date | None = date(2026, 12, 10)) -> int:
    async with app.db.write() as s:
        pledge = await pledges.create_pledge(
            s, TITLE, "https://example.org/p", None, due, None, created_at=app.clock.now()
        )
    assert pledge.id is not None
    return pledge.id


async def confirmations(app: App) -> list[tuple[int, int, bool]]:
    async with app.db.read() as s:
        rows = (await s.exec(select(PledgeConfirmation).order_by(PledgeConfirmation.id))).all()
    return [(r.pledge_id, r.member_id, r.late) for r in rows]


async def test_publish_pushes_to_every_branch_group(app, chat):
    sent = recorder(app)
    reply = await chat.text(
        "zhou", f"发布承诺 {TITLE} https://example.org/p 截止 2026-12-10", direct=True
    )
    notice = (
        f"🤝 廉洁自律承诺 #1《{TITLE}》\n"
        "范围：全县 · 全体人员（党员、预备党员和群众）\n"
        "截止 12月10日(周四)\n"
        "https://example.org/p\n"
        "请阅读后发送「承诺 1」确认。"
    )
    assert reply == f"✅ 已发布\n{notice}\n已推送到 2 个群。"
    await app.reminders.worker.run_due()
    assert sorted((x.to, x.text) for x in sent.sent) == [
        ("wr-bureau", notice),
        ("wr-school", notice),
    ]
    async with app.db.read() as s:
        pledge = (await s.exec(select(Pledge))).one()
    # County-wide even when the admin publishes from a branch's group.
    assert (pledge.branch_id, pledge.due, pledge.link) == (
        None,
        date(2026, 12, 10),
        "https://example.org/p",
    )


async def test_publish_refusals_change_nothing(app, chat):
    refused = "「发布承诺」仅限管理员使用。"
    assert await chat.text("wang", f"发布承诺 {TITLE}") == refused
    assert await chat.text("li", f"发布承诺 {TITLE}") == refused  # a secretary too
    past = await chat.text("zhou", f"发布承诺 {TITLE} 截止 2026-11-30")
    assert past == "截止日期 11月30日(周一) 已经过去。"
    assert "日期格式" in await chat.text("zhou", f"发布承诺 {TITLE} 截止 明天")
    assert "请写承诺的标题" in await chat.text("zhou", "发布承诺 截止 2026-12-10")
    assert "链接不对" in await chat.text("zhou", f"发布承诺 {TITLE} http://")
    assert "100 字以内" in await chat.text("zhou", "发布承诺 " + "廉" * 101)
    async with app.db.read() as s:
        assert (await s.exec(select(Pledge))).all() == []


async def test_confirm_once_for_every_member_and_late_after_due(app, chat, clock):
    assert await chat.text("qian", "承诺") == "目前没有待确认的廉洁承诺。"
    pid = await add_pledge(app)
    # 钱群众 is 群众: the teachers' pledge is for everyone on the roster.
    assert await chat.text("qian", "承诺") == f"✅ 已确认承诺 #{pid}《{TITLE}》"
    again = await chat.text("qian", f"承诺 {pid}")
    assert again == f"您已于 12月1日(周二) 08:10 确认承诺 #{pid}《{TITLE}》。"
    assert await chat.text("qian", "已承诺") == "👍 您已确认全部廉洁承诺。"
    assert await chat.text("wang", "承诺 99") == "没有编号为 99 的廉洁承诺。"
    clock.set(at("2026-12-11 09:00"))
    # Past due, still owed: without a number it is the one confirmed, late.
    assert await chat.text("wang", "承诺") == (
        f"✅ 已确认承诺 #{pid}《{TITLE}》\n已过截止日期 12月10日(周四)，记为逾期。"
    )
    assert await chat.text("sun", f"承诺 {pid}") == (
        f"✅ 已确认承诺 #{pid}《{TITLE}》\n已过截止日期 12月10日(周四)，记为逾期。"
    )
    qian, wang = await member_id(app, "钱群众"), await member_id(app, "王党员")
    sun = await member_id(app, "孙预备")
    assert await confirmations(app) == [(pid, qian, False), (pid, wang, True), (pid, sun, True)]
    assert await chat.text("wang", "承诺") == "👍 您已确认全部廉洁承诺。"


async def test_not_pledged_lists_exact_names_for_secretary_and_admin(app, chat):
    pid = await add_pledge(app)
    for who in ("li", "qian", "chen"):
        await chat.text(who, "承诺")
    assert await chat.text("li", "未承诺") == (
        f"🤝 #{pid}《{TITLE}》\n"
        f"{BUREAU}：已承诺 2 人，未承诺 3 人\n"
        "截止 12月10日(周四)\n\n"
        "未承诺：\n周管理、王党员、孙预备"
    )
    assert await chat.text("zhou", f"未承诺 {pid}", direct=True) == (
        f"🤝 #{pid}《{TITLE}》\n"
        "全县：已承诺 3 人，未承诺 5 人\n"
        "截止 12月10日(周四)\n\n"
        f"未承诺：\n{BUREAU}：周管理、王党员、孙预备\n{SCHOOL}：刘老师、新同志"
    )
    assert await chat.text("wang", "未承诺") == "「未承诺」仅限支部书记和管理员使用。"
    assert await chat.text("li", "未承诺 99") == "没有编号为 99 的廉洁承诺。"


async def test_nudge_mentions_who_has_not_confirmed(app, chat):
    assert await chat.text("li", "催承诺") == "还没有发布廉洁承诺。"
    pid = await add_pledge(app)
    for who in ("li", "qian"):
        await chat.text(who, "承诺")
    reply = await chat.say("li", "催承诺")
    assert reply.text == (
        f"📢 廉洁承诺提醒：#{pid}《{TITLE}》\n"
        "截止 12月10日(周四)，请抓紧确认。\n"
        "https://example.org/p\n"
        f"请阅读后发送「承诺 {pid}」确认。"
    )
    assert [m.external_id for m in reply.mentions] == ["zhou", "wang", "sun"]
    # 新同志 has no account: named, not @-mentioned.
    school = await chat.say("chen", "催承诺", chat="wr-school")
    assert [m.external_id for m in school.mentions] == ["chen", "liu"]
    assert school.text.endswith("（未绑定账号、无法@：新同志）")
    assert "请在本支部的群里发送「催承诺」" in await chat.text("li", "催承诺", direct=True)
    assert await chat.text("li", "催承诺", chat="wr-school") == "您只能在本支部的群里催承诺。"
    assert await chat.text("wang", "催承诺") == "「催承诺」仅限支部书记和管理员使用。"
    for who in ("zhou", "wang", "sun"):
        await chat.text(who, "承诺")
    done = await chat.text("li", "催承诺")
    assert done == f"👍 #{pid}《{TITLE}》\n本支部的同志都已承诺。"


async def test_deadline_push_names_who_has_not_confirmed_when_sent(app, chat, clock):
    sent = recorder(app)
    pid = await add_pledge(app, date(2026, 12, 9))
    clock.set(at("2026-12-07 10:00"))
    await app.reminders.tick()  # plans the push ahead
    for who in ("zhou", "li", "wang", "qian", "chen"):
        await chat.text(who, f"承诺 {pid}")
    clock.set(at("2026-12-08 17:00"))  # the day before the due date, as for study
    await app.reminders.tick()
    await app.reminders.tick()
    pushes = [x for x in sent.sent if "廉洁承诺提醒" in x.text]
    [bureau] = [x for x in pushes if x.to == "wr-bureau"]
    assert bureau.text == (
        "🤝 廉洁承诺提醒：明天截止\n"
        f"《{TITLE}》\n"
        "截止：12月9日(周三)\n"
        "以下同志还未确认（1 人）：\n"
        "孙预备\n"
        "https://example.org/p\n"
        f"请阅读后@我发「承诺 {pid}」。"
    )
    assert bureau.mentions == ("sun",)
    [school] = [x for x in pushes if x.to == "wr-school"]
    assert "（2 人）：\n刘老师、新同志\n" in school.text and school.mentions == ("liu",)
    assert len(pushes) == 2
    assert not [x for x in sent.sent if "学习提醒" in x.text]  # a pledge is not study


async def test_deadline_push_skipped_when_everyone_confirmed(app, chat, clock):
    sent = recorder(app)
    pid = await add_pledge(app, date(2026, 12, 9))
    for who in ("zhou", "li", "wang", "sun", "qian", "chen", "liu"):
        await chat.text(who, f"承诺 {pid}")
    async with app.db.write() as s:  # 新同志 has no account to send from
        await pledges.confirm(s, pid, await member_id(app, "新同志"), clock.now(), False)
    clock.set(at("2026-12-08 17:00"))
    report = await app.reminders.tick()
    assert report.skipped == 2
    assert not [x for x in sent.sent if "廉洁承诺" in x.text]


async def test_my_record_and_summary_count_pledges_apart_from_study(app, chat, clock):
    async with app.db.write() as s:
        await study.create_task(
            s, "党章", "", None, date(2026, 12, 10), None, created_at=clock.now()
        )
    await chat.text("li", "学习")
    clock.set(at("2026-12-11 09:00"))
    before = await chat.text("li", "汇总")
    wang_before = await chat.text("wang", "我的")
    assert "承诺" not in before and "承诺" not in wang_before
    assert "学习完成 25%（1/4）" in before

    clock.set(at("2026-12-01 09:00"))
    pid = await add_pledge(app)
    for who in ("li", "qian", "chen"):
        await chat.text(who, "承诺")
    clock.set(at("2026-12-11 09:00"))
    await chat.text("wang", f"承诺 {pid}")  # late

    wang = await chat.text("wang", "我的")
    assert wang == wang_before + "\n廉洁承诺：已承诺 0，逾期 1，未承诺 0"
    qian = await chat.text("qian", "我的")
    assert qian.endswith("学习：已学 0，逾期 0，未学 0\n廉洁承诺：已承诺 1，逾期 0，未承诺 0")

    after = await chat.text("li", "汇总")
    # By hand: 机关 has 5 on the roster; 李书记 and 钱群众 on time, 王党员 late.
    assert "\n廉洁承诺 60%（3/5）" in after
    pledge_part = (
        "【廉洁承诺】\n"
        "周管理 已承诺0 逾期0 未承诺1\n"
        "李书记 已承诺1 逾期0 未承诺0\n"
        "王党员 已承诺0 逾期1 未承诺0\n"
        "孙预备 已承诺0 逾期0 未承诺1\n"
        "钱群众 已承诺1 逾期0 未承诺0"
    )
    assert after.endswith("\n\n" + pledge_part)
    # Study figures and every other line are word for word what they were.
    assert after.replace("\n廉洁承诺 60%（3/5）", "").replace("\n\n" + pledge_part, "") == before

    county = await chat.text("zhou", "汇总", direct=True)
    assert "学习25% 承诺60%" in county
    assert "学习0% 承诺33%" in county  # 一中: 陈书记 of 3
    november = await chat.text("li", "汇总 上月")
    assert "承诺" not in november


async def test_export_sheet_rows(app, chat, clock):
    pid = await add_pledge(app)
    await chat.text("qian", "承诺")
    clock.set(at("2026-12-11 09:00"))
    await chat.text("chen", f"承诺 {pid}", chat="wr-school")
    now = clock.now()
    december = parse_period("本月", now.date())
    sheet = await _sheet(app, None, december, now)
    assert sheet is not None
    assert sheet.title == "廉洁承诺"
    assert list(sheet.headers) == ["编号", "承诺", "截止日期", "支部", "姓名", "情况", "确认时间"]
    due = date(2026, 12, 10)
    assert [list(r) for r in sheet.rows] == [
        [pid, TITLE, due, BUREAU, "周管理", "未承诺", None],
        [pid, TITLE, due, BUREAU, "李书记", "未承诺", None],
        [pid, TITLE, due, BUREAU, "王党员", "未承诺", None],
        [pid, TITLE, due, BUREAU, "孙预备", "未承诺", None],
        [pid, TITLE, due, BUREAU, "钱群众", "已承诺", datetime(2026, 12, 1, 8, 10)],
        [pid, TITLE, due, SCHOOL, "陈书记", "逾期", datetime(2026, 12, 11, 9, 0)],
        [pid, TITLE, due, SCHOOL, "刘老师", "未承诺", None],
        [pid, TITLE, due, SCHOOL, "新同志", "未承诺", None],
    ]
    november = parse_period("上月", now.date())
    assert await _sheet(app, None, november, now) is None
    async with app.db.read() as s:
        data = await export_workbook(s, app.services, None, december, now)
    assert data is not None
    book = load_workbook(BytesIO(data))
    rows = list(book["廉洁承诺"].iter_rows(min_row=2, values_only=True))
    assert [r[4:6] for r in rows if r[3] == SCHOOL] == [
        ("陈书记", "逾期"),
        ("刘老师", "未承诺"),
        ("新同志", "未承诺"),
    ]


async def _sheet(app: App, branch_ids, period, now):
    async with app.db.read() as s:
        return await pledge_handlers.export_sheet(s, app.services, branch_ids, period, now)
