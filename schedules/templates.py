"""Reminder texts: Chinese templates with named fields, in files an admin can edit."""

from __future__ import annotations

import string
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

_EVENT = frozenset({"kind", "number", "branch", "date", "time", "place", "opens", "closes"})
_HOLIDAY = frozenset({"holiday", "rest_from", "year"})

# Every template the bot uses, with the fields it may contain.
FIELDS: dict[str, frozenset[str]] = {
    "event_preview": _EVENT,
    "event_today": _EVENT,
    "signin_open": _EVENT,
    "absentees": _EVENT | {"expected", "count", "names", "leave"},
    "holiday_new_year": _HOLIDAY,
    "holiday_spring": _HOLIDAY,
    "holiday_qingming": _HOLIDAY,
    "holiday_labour": _HOLIDAY,
    "holiday_dragon_boat": _HOLIDAY,
    "holiday_mid_autumn": _HOLIDAY,
    "holiday_national": _HOLIDAY,
    "teachers_day": frozenset({"date", "number", "year"}),
    "graduation": frozenset({"date", "year"}),
    "education_month": frozenset({"month", "year"}),
    "study_deadline": frozenset({"title", "due", "count", "names", "number", "link"}),
    "absence_warning": frozenset({"branch", "months", "names"}),
}


class TemplateError(Exception):
    """A template file that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class Templates:
    texts: dict[str, str]

    def render(self, name: str, **fields: object) -> str:
        """The template filled in; every field was checked at load time."""
        return self.texts[name].format_map(fields).strip()


def _check(path: Path | str, name: str, text: str) -> None:
    allowed = FIELDS[name]
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise TemplateError(
            f"提醒模板 {path} 格式错误：{exc}（字面的大括号请写成 {{{{ }}}}）"
        ) from None
    for _, field, spec, conversion in parsed:
        if field is None:
            continue
        if field not in allowed or spec or conversion:
            known = "、".join(sorted(allowed))
            raise TemplateError(f"提醒模板 {path} 含有未知字段 {{{field}}}；可用字段：{known}")


def load_templates(directory: str = "") -> Templates:
    """Read the templates, the admin's copies first; refuse any with an unknown field."""
    shipped = resources.files("schedules").joinpath("templates")
    own = Path(directory) if directory else None
    if own is not None and not own.is_dir():
        raise TemplateError(f"提醒模板目录 {own} 不存在（reminders.templates_dir）")
    texts = {}
    for name in FIELDS:
        file = f"{name}.txt"
        path: Path | str
        if own is not None and (own / file).is_file():
            path = own / file
            try:
                text = path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                raise TemplateError(f"提醒模板 {path} 不是 UTF-8 编码") from None
        else:
            path = f"(内置) {file}"
            text = shipped.joinpath(file).read_text(encoding="utf-8")
        _check(path, name, text)
        texts[name] = text
    return Templates(texts)
