"""The start-up check: every gap in the setup that will make a push fail, in Chinese.

`qingfeng check` prints them, `serve` logs them at start and /healthz lists them as
warnings. A gap is not an error: the bot still answers in chat, but some pushes will
fail or go nowhere until the operator fills it."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.config import GroupConfig, Settings
from schedules.holidays import HolidayCalendar
from storage import checks, groups
from storage.models import Group

PLATFORM_NAMES = {"wecom": "企业微信", "dingtalk": "钉钉", "console": "控制台"}
PLACEHOLDER = "name:"  # storage.groups.placeholder_chat_id: a group known by name only


def _name(platform: str) -> str:
    return PLATFORM_NAMES.get(platform, platform)


def can_send_direct(settings: Settings, platform: str) -> bool:
    """Whether private messages can go out on `platform` (as the platforms build their
    clients: WeCom's app needs corp_id and the app secret, DingTalk its appKey/appSecret)."""
    if platform == "wecom":
        return bool(settings.wecom.corp_id and settings.wecom.app.secret.get_secret_value())
    if platform == "dingtalk":
        return bool(settings.dingtalk.app_key and settings.dingtalk.app_secret.get_secret_value())
    return platform == "console"


def _group_gap(settings: Settings, platforms: Collection[str], g: GroupConfig) -> str | None:
    label = f"群「{g.name}」"
    if g.platform not in platforms:
        return f"{label}属于{_name(g.platform)}，但没有配置{_name(g.platform)}，推送会失败"
    has_webhook = bool(g.webhook.get_secret_value())
    if g.platform == "wecom" and not has_webhook:
        return f"{label}没有配置 webhook（企业微信群机器人地址），推送会失败"
    if g.platform == "dingtalk" and not has_webhook:
        if not g.chat_id or g.chat_id.startswith(PLACEHOLDER):
            return (
                f"{label}既没有 webhook 也没有 chat_id，推送会失败"
                "（填 webhook，或在群里 @机器人 发「绑定本群」）"
            )
        if not can_send_direct(settings, "dingtalk"):
            return f"{label}没有 webhook，按 chat_id 发送需要钉钉 app_key 和 app_secret，推送会失败"
    return None


def config_gaps(
    settings: Settings, platforms: Collection[str], today: date, calendar: HolidayCalendar
) -> list[str]:
    """The gaps the configuration alone shows. `platforms`: those that can send."""
    gaps: list[str] = []
    if not platforms:
        gaps.append("没有配置任何平台（企业微信或钉钉），所有推送都会失败")
    gaps.extend(g for c in settings.groups if (g := _group_gap(settings, platforms, c)))
    # From December the next year's reminders are planned; without the State Council's
    # holiday data their dates are estimated and may fall on a rest day.
    years = [today.year] + ([today.year + 1] if today.month == 12 else [])
    for year in years:
        if calendar.is_estimated(year):
            gaps.append(
                f"{year} 年的官方节假日安排还没有收录，提醒日期按推算估算："
                "国务院公布后请升级 chinesecalendar（pip install -U chinesecalendar）并重启，"
                "在那之前可在 [[calendar.overrides]] 里写明放假和调休日"
            )
    return gaps


def _configured(settings: Settings, row: Group) -> GroupConfig | None:
    for c in settings.groups:
        if c.platform == row.platform and (c.chat_id or f"{PLACEHOLDER}{c.name}") == row.chat_id:
            return c
    return None


async def database_gaps(
    s: AsyncSession, settings: Settings, platforms: Collection[str]
) -> list[str]:
    """The gaps the database shows: branches, groups and people as they are now."""
    gaps: list[str] = []
    # A group in the config reaches the database only when `serve` starts (sync_config).
    configured = {c.branch for c in settings.groups if c.branch}
    for branch in await checks.branches_without_group(s):
        if branch in configured:
            continue
        gaps.append(f"支部「{branch}」没有群，它的提醒无处可发（在 [[groups]] 里给它配一个群）")
    for row in await groups.all_groups(s):
        if _configured(settings, row) is not None:
            continue  # judged with the config entry above
        entry = GroupConfig(name=row.name, platform=row.platform, chat_id=row.chat_id)  # type: ignore[arg-type]
        if (gap := _group_gap(settings, platforms, entry)) is not None:
            gaps.append(gap + "（此群不在配置文件的 [[groups]] 中）")
    for branch, n in (await checks.unbound_per_branch(s)).items():
        gaps.append(
            f"支部「{branch}」有 {n} 人没有绑定账号，发给他们的私信会失败"
            "（请他们在群里发「绑定」，或由管理员导入账号；qingfeng member list --unbound 查看）"
        )
    for platform in sorted(await checks.account_platforms(s)):
        if platform in platforms and not can_send_direct(settings, platform):
            what = (
                "企业微信自建应用（[wecom] corp_id 和 [wecom.app] secret）"
                if platform == "wecom"
                else "钉钉应用（[dingtalk] app_key 和 app_secret）"
            )
            gaps.append(f"没有配置{what}，缺席名单等发给书记的私信会失败")
    return gaps


async def all_gaps(
    s: AsyncSession,
    settings: Settings,
    platforms: Collection[str],
    today: date,
    calendar: HolidayCalendar,
) -> list[str]:
    return config_gaps(settings, platforms, today, calendar) + await database_gaps(
        s, settings, platforms
    )
