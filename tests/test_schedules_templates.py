"""Reminder templates: shipped defaults, an admin's own copies, and refusal of bad fields."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.app import App
from bot.cli import cli
from schedules.templates import FIELDS, TemplateError, load_templates
from tests.conftest import make_settings


def test_shipped_templates_cover_the_seed_topics() -> None:
    t = load_templates()
    assert set(t.texts) == set(FIELDS)
    everything = "\n".join(t.texts.values())
    for topic in (
        "八项规定",
        "违规吃喝",
        "礼品礼金",
        "电子红包",
        "有偿补课",
        "谢师宴",
        "升学宴",
        "公车私用",
    ):
        assert topic in everything, topic
    spring = t.render("holiday_spring", holiday="春节", rest_from="2月15日(周日)", year=2026)
    assert spring.startswith("【春节廉洁提醒】\n2月15日(周日)起放假。")


def test_integrity_reminders_carry_no_festive_emoji() -> None:
    """A discipline reminder is not a greeting card: no 🧧, 🥮 or the like on any of them."""
    t = load_templates("")
    integrity = [n for n in t.texts if n.startswith("holiday_")] + ["teachers_day", "graduation"]
    for name in integrity:
        text = t.texts[name]
        assert not any(ord(ch) > 0x2FFF and not 0x3000 <= ord(ch) <= 0xFFFF for ch in text), name
        assert text.split("\n", 1)[0].endswith("廉洁提醒】"), name


def test_an_admins_copy_replaces_the_shipped_text(tmp_path: Path) -> None:
    (tmp_path / "graduation.txt").write_text("🎓 {date} 起严禁谢师宴、升学宴。\n", encoding="utf-8")
    t = load_templates(str(tmp_path))
    assert t.render("graduation", date="6月10日", year=2026) == "🎓 6月10日 起严禁谢师宴、升学宴。"
    assert "八项规定" in t.texts["holiday_national"] or "四风" in t.texts["holiday_national"]


def test_an_unknown_field_is_refused_at_start_up_naming_file_and_field(tmp_path: Path) -> None:
    own = tmp_path / "tpl"
    own.mkdir()
    (own / "teachers_day.txt").write_text("教师节 {date} {teacher_name}\n", encoding="utf-8")
    settings = make_settings(tmp_path, reminders={"templates_dir": str(own)})
    with pytest.raises(TemplateError) as err:
        App(settings)
    assert str(own / "teachers_day.txt") in str(err.value)
    assert "{teacher_name}" in str(err.value)


def test_a_malformed_template_and_a_missing_directory_are_refused(tmp_path: Path) -> None:
    (tmp_path / "graduation.txt").write_text("严禁{谢师宴\n", encoding="utf-8")
    with pytest.raises(TemplateError, match=r"graduation\.txt"):
        load_templates(str(tmp_path))
    with pytest.raises(TemplateError, match="不存在"):
        load_templates(str(tmp_path / "nope"))


def test_serve_refuses_to_start_with_a_bad_template(tmp_path: Path) -> None:
    own = tmp_path / "tpl"
    own.mkdir()
    (own / "absentees.txt").write_text("{kind} {who}\n", encoding="utf-8")
    config = tmp_path / "q.toml"
    config.write_text(
        f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path / "q.db"}"\n'
        f'[reminders]\ntemplates_dir = "{own}"\n',
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["serve", "--config", str(config)])
    assert result.exit_code == 2
    assert "absentees.txt" in result.output and "{who}" in result.output
