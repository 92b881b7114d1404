"""The `qingfeng` command line, run as an operator would, in a separate process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from storage.migrate import head_revision
from tests.conftest import ROSTER

QINGFENG = str(Path(sys.executable).parent / "qingfeng")


def run(*args: str, cwd: Path, stdin: str = "", env: dict[str, str] | None = None):
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("QINGFENG_")}
    full_env.update(env or {})
    return subprocess.run(
        [QINGFENG, *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env=full_env,
    )


def test_init_upgrade_import_export(tmp_path):
    r = run("init", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "qingfeng.toml").exists()
    assert run("init", cwd=tmp_path).returncode != 0  # no silent overwrite

    r = run("db", "upgrade", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert f"数据库已升级：空 → {head_revision()}" in r.stdout
    assert "数据库已是最新" in run("db", "upgrade", cwd=tmp_path).stdout

    (tmp_path / "roster.csv").write_text(ROSTER, encoding="utf-8")
    r = run("roster", "import", "roster.csv", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "导入完成：新增 8 人，更新 0 人，未变 0 人。"

    r = run("roster", "export", "out.xlsx", cwd=tmp_path)
    assert r.stdout.strip() == "已导出 8 人到 out.xlsx"

    r = run("backup", "copy.db", cwd=tmp_path)
    assert r.returncode == 0 and "已备份到 copy.db" in r.stdout


def test_bad_roster_exits_nonzero_listing_rows(tmp_path):
    run("db", "upgrade", cwd=tmp_path)
    (tmp_path / "bad.csv").write_text("姓名,支部,身份,角色,手机\n张三,一中,团员,,123\n", "utf-8")
    r = run("roster", "import", "bad.csv", cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr.splitlines() == [
        "花名册有 1 处错误，未导入任何人员：",
        "第 2 行：身份“团员”应为 党员、预备党员 或 群众；"
        "手机“123”应为 11 位手机号（读到 3 位数字：123）",
    ]


def test_bad_config_stops_with_the_key_and_no_secret(tmp_path):
    (tmp_path / "qingfeng.toml").write_text(
        '[server]\nport = "x"\n[wecom.app]\nsecret = "s3cr3t"\n', "utf-8"
    )
    r = run("db", "upgrade", cwd=tmp_path)
    assert r.returncode == 2
    assert "server.port" in r.stderr
    assert "s3cr3t" not in r.stderr + r.stdout
    assert "Traceback" not in r.stderr


def test_env_override_of_database_url(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'via-env.db'}"
    r = run("db", "upgrade", cwd=tmp_path, env={"QINGFENG_DATABASE__URL": url})
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "via-env.db").exists()


def test_piped_demo_session(tmp_path):
    script = "\n".join(
        [
            "/as 吴海燕",
            "签到",
            "绑定 吴海燕 0007",
            "签到",
            "学习",
            "请假 参加县里培训",
            "我的",
            "日程",
            "安排 党课 2026-12-20 15:00 报告厅",
            "/as 李卫东",
            "安排 党课 2026-12-20 15:00 报告厅",
            "/time 2026-12-01 17:10",
            "/as 王晓梅",
            "签退",
        ]
    )
    r = run("demo", "--at", "2026-12-01 08:10", cwd=tmp_path, stdin=script + "\n")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    expected = [
        "[县教育局机关党支部群] 吴海燕: 签到",
        "  您还没有绑定身份。请发送：绑定 姓名 手机后四位（例如：绑定 张三 1234）",
        "  ✅ 绑定成功：吴海燕",
        "  ✅ 上班签到成功 08:10，按时。",
        "  ✅ 已确认学习 #2《中国共产党纪律处分条例》第四章",
        "  ✅ 已登记请假：主题党日 12月4日(周五) 15:00",  # the first-Friday rule
        "  日常签到：按时 1，迟到 0，缺 0",
        "  📅 县教育局机关党支部 近期安排",
        "  「安排」仅限支部书记和管理员使用。",
        "  ✅ 已安排：党课",
        "（时钟已拨到 2026-12-01 17:10）",
        "  ✅ 下班签到成功 17:10，按时。",
    ]
    pos = 0
    for line in expected:
        found = out.find(line, pos)
        assert found >= 0, f"missing or out of order: {line!r}\n---\n{out}"
        pos = found
    assert "Traceback" not in r.stderr


def test_serve_with_an_unusable_config_value_prints_one_line(tmp_path):
    (tmp_path / "qingfeng.toml").write_text(
        f'[wecom.aibot]\ntoken = "t"\nencoding_aes_key = "{"k" * 42}"\n', encoding="utf-8"
    )
    r = run("serve", cwd=tmp_path)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "配置项 wecom.aibot.encoding_aes_key: 应为管理后台生成的 43 位" in lines[0]
