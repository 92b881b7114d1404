"""Configuration: one TOML file, overridable by QINGFENG_* environment variables."""

from __future__ import annotations

import json
import os
import re
import tomllib
import types
from collections.abc import Mapping
from datetime import date, time
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple, Union, get_args, get_origin
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

CONFIG_ENV = "QINGFENG_CONFIG"
ENV_PREFIX = "QINGFENG_"
ENV_NESTED = "__"  # QINGFENG_SERVER__PORT is server.port
DEFAULT_CONFIG_FILE = "qingfeng.toml"


class ConfigError(Exception):
    """A configuration problem, worded for the operator; never contains secret values."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


_HTTP = ("http", "https")
_AES_KEY = re.compile(r"[A-Za-z0-9+/]{43}")


def _url(value: str, schemes: tuple[str, ...], *, secret: bool = False) -> str:
    """`value` unchanged when it is an absolute URL with one of `schemes` and a host.

    Checked when the config is read: a typo here otherwise surfaces only when the first
    push or export link fails, hours later. A secret URL (a webhook carries its key) is
    never quoted back."""
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:  # a malformed port or IPv6 literal
        parts, host = None, None
    if parts is None or parts.scheme not in schemes or not host:
        example = " 或 ".join(f"{s}://" for s in schemes)
        shown = "" if secret else f"（现为 {value!r}）"
        raise ValueError(f"应为以 {example} 开头、带主机名的完整地址{shown}")
    return value


def _aes_key(value: SecretStr) -> SecretStr:
    key = value.get_secret_value()
    # 43 base64 characters always decode (with one "=") to the 32-byte AES key.
    if key and not _AES_KEY.fullmatch(key):
        raise ValueError(f"应为管理后台生成的 43 位 EncodingAESKey（现为 {len(key)} 位）")
    return value


def _secret_http_url(value: SecretStr) -> SecretStr:
    if value.get_secret_value():
        _url(value.get_secret_value(), _HTTP, secret=True)
    return value


HttpUrl = Annotated[str, AfterValidator(lambda v: _url(v, _HTTP))]
WsUrl = Annotated[str, AfterValidator(lambda v: _url(v, ("ws", "wss")))]
SecretHttpUrl = Annotated[SecretStr, AfterValidator(_secret_http_url)]
AesKey = Annotated[SecretStr, AfterValidator(_aes_key)]


class DatabaseConfig(_Section):
    url: str = "sqlite+aiosqlite:///qingfeng.db"
    echo: bool = False

    @field_validator("url")
    @classmethod
    def _known_driver(cls, v: str) -> str:
        if not (v.startswith("sqlite+aiosqlite://") or v.startswith("postgresql+asyncpg://")):
            raise ValueError("应以 sqlite+aiosqlite:// 或 postgresql+asyncpg:// 开头")
        return v


class ServerConfig(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    public_url: HttpUrl = "http://127.0.0.1:8080"
    # Signs export links; replicas must share it. Empty: derived per database (see exports).
    export_secret: SecretStr = SecretStr("")
    export_ttl_hours: int = Field(24, ge=1, le=24 * 30)
    max_body_bytes: int = Field(1024 * 1024, ge=1024)
    # /healthz turns 503 once a long connection has been down this long (a reconnect or a
    # lease handover takes seconds; wrong credentials or no route never end).
    health_grace_seconds: int = Field(120, ge=0, le=3600)
    body_timeout_seconds: float = Field(5.0, gt=0, le=300)  # see platforms.payload.read_body


class WeComAppConfig(_Section):
    agent_id: int = 0
    secret: SecretStr = SecretStr("")
    token: SecretStr = SecretStr("")
    encoding_aes_key: AesKey = SecretStr("")


# "callback": the platform calls our public URL; "long_connection": we dial out over a
# WebSocket, so no public address, domain or 企业可信IP is needed.
Mode = Literal["callback", "long_connection"]


class WeComAibotConfig(_Section):
    token: SecretStr = SecretStr("")
    encoding_aes_key: AesKey = SecretStr("")
    # Long connection (智能机器人 → API 模式 → 长连接): the bot's id and secret.
    bot_id: str = ""
    secret: SecretStr = SecretStr("")
    ws_url: WsUrl = "wss://openws.work.weixin.qq.com"


class WeComConfig(_Section):
    mode: Mode = "callback"
    api_base: HttpUrl = "https://qyapi.weixin.qq.com"
    app: WeComAppConfig = WeComAppConfig()
    aibot: WeComAibotConfig = WeComAibotConfig()
    # After `app`, so its validator can see whether the app's callback is configured;
    # validated when left out too, as that is the mistake it catches.
    corp_id: str = Field("", validate_default=True)

    @field_validator("corp_id")
    @classmethod
    def _corp_id_for_app_callback(cls, v: str, info: Any) -> str:
        app = info.data.get("app")
        if not v and app is not None and app.token.get_secret_value():
            raise ValueError("使用自建应用回调时必填（企业ID）")
        return v

    @model_validator(mode="after")
    def _long_connection_keys(self) -> WeComConfig:
        if self.mode == "long_connection" and not (
            self.aibot.bot_id and self.aibot.secret.get_secret_value()
        ):
            raise ValueError("mode = long_connection 需要 [wecom.aibot] bot_id 和 secret")
        return self


class DingTalkConfig(_Section):
    mode: Mode = "callback"
    app_key: str = ""
    app_secret: SecretStr = SecretStr("")
    robot_code: str = ""
    api_base: HttpUrl = "https://api.dingtalk.com"  # the Stream gateway is opened here too

    @model_validator(mode="after")
    def _long_connection_keys(self) -> DingTalkConfig:
        if self.mode == "long_connection" and not (
            self.app_key and self.app_secret.get_secret_value()
        ):
            raise ValueError("mode = long_connection 需要 app_key 和 app_secret")
        return self


class GroupConfig(_Section):
    name: str
    branch: str = ""
    platform: Literal["wecom", "dingtalk", "console"] = "wecom"
    chat_id: str = ""
    webhook: SecretHttpUrl = SecretStr("")  # the URL carries the robot key
    secret: SecretStr = SecretStr("")


class SlotConfig(_Section):
    """One daily check-in slot: the window it is accepted in, and the on-time deadline."""

    start: time
    end: time
    on_time_by: time | None = None

    @field_validator("end")
    @classmethod
    def _end_after_start(cls, v: time, info: Any) -> time:
        start = info.data.get("start")
        if start is not None and v <= start:
            raise ValueError("应晚于 start")
        return v


class CheckinConfig(_Section):
    morning: SlotConfig = SlotConfig(start=time(7, 0), end=time(9, 30), on_time_by=time(8, 30))
    evening: SlotConfig = SlotConfig(start=time(16, 30), end=time(20, 0))


class ThemeDayRule(_Section):
    """The branch's 主题党日: a fixed day of the month, or the n-th weekday (1=Monday)."""

    day: int | None = Field(None, ge=1, le=28)
    nth: int = Field(1, ge=1, le=4)
    weekday: int = Field(5, ge=1, le=7)
    at: time = time(15, 0)
    place: str = "党员活动室"


class Vacation(_Section):
    """A school vacation of one branch, both days included: no automatic meeting in it."""

    # `from`/`to` as an operator writes them; `from` is a Python keyword, hence the aliases.
    start: date = Field(alias="from")
    end: date = Field(alias="to")

    @field_validator("end")
    @classmethod
    def _end_not_before_start(cls, v: date, info: Any) -> date:
        start = info.data.get("start")
        if start is not None and v < start:
            raise ValueError(f"应不早于 from（{start.isoformat()}）")
        return v

    def covers(self, day: date) -> bool:
        return self.start <= day <= self.end


class BranchConfig(_Section):
    name: str
    daily_checkin: bool = False
    morning: SlotConfig | None = None
    evening: SlotConfig | None = None
    theme_day: ThemeDayRule = ThemeDayRule()
    vacations: list[Vacation] = []


class CalendarOverride(_Section):
    """A festival date for a year the official calendar does not cover yet."""

    name: str
    date: date
    rest_days: list[date] = []
    workdays: list[date] = []


class CalendarConfig(_Section):
    overrides: list[CalendarOverride] = []


class RemindersConfig(_Section):
    grace_hours: int = Field(6, ge=0, le=72)
    # A claim older than this belongs to a dead worker and is sent again. Longer than the
    # slowest batch (100 pushes, 50 at a time, each bounded by the 10 s client timeout).
    claim_timeout_seconds: int = Field(600, ge=1, le=3600)
    holiday_extra_days_before: int = Field(0, ge=0, le=30)
    graduation_dates: list[str] = ["06-10", "07-10"]
    education_month: int = Field(9, ge=1, le=12)
    templates_dir: str = ""  # empty: the templates shipped with the package


class MeetingsConfig(_Section):
    # 组织生活会 and 民主评议 are held once a year within these months (first, last; both
    # included): the planner puts them in the last month, the admin's list at its end.
    yearly_window: tuple[int, int] = (1, 2)

    @field_validator("yearly_window")
    @classmethod
    def _months_in_order(cls, v: tuple[int, int]) -> tuple[int, int]:
        first, last = v
        if not 1 <= first <= last <= 12:
            raise ValueError("应为 [起始月, 结束月]，1–12 且起始不晚于结束，如 [1, 2]")
        return v


class Window(NamedTuple):
    """One check-in slot as it applies to a branch (plain values: read on every 签到)."""

    start: time
    end: time
    on_time_by: time | None


class BranchCheckin(NamedTuple):
    """A branch's daily check-in: whether it is on, and its two windows."""

    daily: bool
    morning: Window
    evening: Window


class Settings(BaseSettings):
    """Every key of the configuration file (see `qingfeng init`)."""

    model_config = SettingsConfigDict(extra="forbid", hide_input_in_errors=True)

    timezone: str = "Asia/Shanghai"
    database: DatabaseConfig = DatabaseConfig()
    server: ServerConfig = ServerConfig()
    wecom: WeComConfig = WeComConfig()
    dingtalk: DingTalkConfig = DingTalkConfig()
    groups: list[GroupConfig] = []
    checkin: CheckinConfig = CheckinConfig()
    branches: list[BranchConfig] = []
    calendar: CalendarConfig = CalendarConfig()
    reminders: RemindersConfig = RemindersConfig()
    meetings: MeetingsConfig = MeetingsConfig()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        *_: PydanticBaseSettingsSource,
        **__: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Only what load_settings passes: the file with the environment merged over it.
        return (init_settings,)

    @field_validator("timezone")
    @classmethod
    def _real_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("不认识的时区，如 Asia/Shanghai") from exc
        return v

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def branch(self, name: str) -> BranchConfig:
        """The per-branch settings, or the defaults for a branch the file does not list."""
        found = self._branches_by_name.get(name)
        return found if found is not None else BranchConfig(name=name)

    @cached_property
    def _branches_by_name(self) -> dict[str, BranchConfig]:
        # Every check-in asks; a county lists hundreds of branches.
        return {b.name: b for b in self.branches}

    def slot(self, branch: str, slot: Literal["morning", "evening"]) -> SlotConfig:
        own = getattr(self.branch(branch), slot)
        return own if own is not None else getattr(self.checkin, slot)

    def checkin_of(self, branch: str) -> BranchCheckin:
        """`branch`'s daily check-in, resolved (Services keeps one per branch)."""
        windows = [self.slot(branch, key) for key in ("morning", "evening")]
        morning, evening = (Window(w.start, w.end, w.on_time_by) for w in windows)
        return BranchCheckin(self.branch(branch).daily_checkin, morning, evening)


# pydantic's own wording, in Chinese, for the errors an operator is likely to make.
_MESSAGES = {
    "extra_forbidden": "不认识的配置项（拼写错误？）",
    "missing": "必须填写",
    "int_parsing": "应为整数",
    "int_type": "应为整数",
    "int_from_float": "应为整数",
    "bool_parsing": "应为 true 或 false",
    "bool_type": "应为 true 或 false",
    "string_type": "应为加引号的文字",
    "time_parsing": '应为时间，如 "08:30"',
    "time_type": '应为时间，如 "08:30"',
    "date_parsing": "应为日期，如 2026-10-01",
    "date_from_datetime_parsing": "应为日期，如 2026-10-01",
    "date_type": "应为日期，如 2026-10-01",
    "list_type": "应为列表 [...]",
    "tuple_type": "应为列表 [...]",
    "too_long": "列表项太多",
    "model_type": "应为一节配置 [...] 或 {...}",
    "model_attributes_type": "应为一节配置 [...] 或 {...}",
}


def _message(err: Any) -> str:
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind in _MESSAGES:
        return _MESSAGES[kind]
    if kind in ("greater_than_equal", "greater_than"):
        return f"不能小于 {ctx.get('ge', ctx.get('gt'))}"
    if kind in ("less_than_equal", "less_than"):
        return f"不能大于 {ctx.get('le', ctx.get('lt'))}"
    if kind == "literal_error":
        return "只能是 " + str(ctx.get("expected", "")).replace(" or ", " 或 ")
    if kind == "value_error":  # our own validators' messages, already Chinese
        return str(ctx.get("error", err["msg"]))
    return str(err["msg"])


def _describe(exc: ValidationError) -> str:
    """One line per error, each naming the key: `配置项 server.port: 应为整数`."""
    lines = []
    for err in exc.errors(include_input=False, include_url=False):
        key = ".".join(str(p) for p in err["loc"]) or "(根)"
        lines.append(f"配置项 {key}: {_message(err)}")
    return "\n".join(lines)


def config_path(explicit: str | os.PathLike[str] | None, env: Mapping[str, str]) -> Path | None:
    """The file to read: --config, else $QINGFENG_CONFIG, else ./qingfeng.toml if present."""
    if explicit:
        return Path(explicit)
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV])
    default = Path(DEFAULT_CONFIG_FILE)
    return default if default.exists() else None


def load_settings(
    path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Read and validate the configuration; raise ConfigError with one clear message."""
    env = os.environ if env is None else env
    file = config_path(path, env)
    data: dict[str, Any] = {}
    if file is not None:
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"找不到配置文件 {file}（可先运行 qingfeng init 生成）") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"配置文件 {file} 格式错误: {exc}") from exc
        except UnicodeDecodeError as exc:
            raise ConfigError(f"配置文件 {file} 不是 UTF-8 编码") from exc
        _anchor_sqlite_path(data, file.parent)
    data.update(overrides)
    try:
        data = _merged(data, _from_environment(env))
        return Settings(**data)
    except ValidationError as exc:
        where = f"（{file}）" if file else ""
        # One line per error, each complete on its own (journalctl shows lines apart).
        lines = (f"配置错误{where}：{line}" for line in _describe(exc).splitlines())
        raise ConfigError("\n".join(lines)) from None


_SQLITE_PREFIX = "sqlite+aiosqlite:///"


def _anchor_sqlite_path(data: dict[str, Any], folder: Path) -> None:
    """A relative SQLite path written in the file is taken from the file's folder.

    Read against the current directory it would depend on where the operator happens to
    run `qingfeng` from, and a stray empty database would be created there."""
    section = data.get("database")
    url = section.get("url") if isinstance(section, dict) else None
    if not isinstance(url, str) or not url.startswith(_SQLITE_PREFIX):
        return
    path, _, query = url[len(_SQLITE_PREFIX) :].partition("?")
    if not path or path == ":memory:" or Path(path).is_absolute():
        return
    anchored = (folder / path).resolve()
    section["url"] = _SQLITE_PREFIX + str(anchored) + (f"?{query}" if query else "")


def _from_environment(env: Mapping[str, str]) -> dict[str, Any]:
    """The settings given as QINGFENG_* variables, nested like the file.

    QINGFENG_SERVER__PORT=9100 is server.port; a key is any case. A value for a list or a
    section is JSON: QINGFENG_BRANCHES='[{"name": "第一支部"}]',
    QINGFENG_CHECKIN__MORNING='{"start": "07:00", "end": "09:00"}'. Variables that name no
    setting (QINGFENG_CONFIG, a test's own) are left alone."""
    found: dict[str, Any] = {}
    for name, value in env.items():
        if not name.upper().startswith(ENV_PREFIX):
            continue
        path = name[len(ENV_PREFIX) :].lower().split(ENV_NESTED)
        if path[0] not in Settings.model_fields:
            continue
        if _is_complex(_annotation(path)):
            try:
                value = json.loads(value)
            except ValueError:
                raise ConfigError(f"环境变量 {name} 应为 JSON") from None
        node = found
        for key in path[:-1]:
            if not isinstance(node.get(key), dict):
                node[key] = {}
            node = node[key]
        node[path[-1]] = value
    return found


def _annotation(path: list[str]) -> Any:
    """The type of the setting at `path`, or None when there is no such setting (pydantic
    names it in its error)."""
    annotation: Any = Settings
    for key in path:
        model = next((t for t in _members(annotation) if _is_model(t)), None)
        if model is None or key not in model.model_fields:
            return None
        annotation = model.model_fields[key].annotation
    return annotation


def _members(annotation: Any) -> tuple[Any, ...]:
    """`X | None` is (X, NoneType); anything else is itself."""
    if get_origin(annotation) in (Union, types.UnionType):
        return get_args(annotation)
    return (annotation,)


def _is_model(t: Any) -> bool:
    return isinstance(t, type) and issubclass(t, BaseModel)


def _is_complex(annotation: Any) -> bool:
    return any(
        _is_model(t) or get_origin(t) in (list, dict, tuple, set) for t in _members(annotation)
    )


def _merged(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` on top of `base`, section by section: the environment wins over the file."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merged(out[key], value)
        else:
            out[key] = value
    return out
