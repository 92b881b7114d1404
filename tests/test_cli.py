"""The `qingfeng` command line, run as an operator would, in a separate process."""

from __future__ import annotations

import getpass
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
    r = run("roster", "import", "roster.csv", "--yes", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[:3] == [
        "新建支部：县教育局机关党支部",
        "新建支部：县第一中学党支部",
        "新增 周管理（13800000001）：县教育局机关党支部，党员，管理员，第一党小组",
    ]
    assert r.stdout.splitlines()[-1] == "导入完成：新增 8 人，更新 0 人，未变 0 人。"

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


def test_roster_import_previews_and_applies_only_with_yes(tmp_path):
    run("db", "upgrade", cwd=tmp_path)
    (tmp_path / "roster.csv").write_text(ROSTER, encoding="utf-8")
    assert run("roster", "import", "roster.csv", "--yes", cwd=tmp_path).returncode == 0
    changed = ROSTER.replace(
        "刘老师,县第一中学党支部,党员,成员", "刘老师,县第一中学党支部,党员,书记"
    )
    changed = changed.replace("新同志,县第一中学党支部,党员,成员,13900000019,,,,\n", "")
    (tmp_path / "new.csv").write_text(changed, encoding="utf-8")
    db = tmp_path / "qingfeng.db"
    before = db.read_bytes()
    r = run("roster", "import", "new.csv", "--full", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "更新 刘老师（13900000012）：角色 成员 → 书记",
        "离开 新同志（13900000019）：不在名单中，标记为离开并解除账号绑定",
        "预览：新增 0 人，更新 1 人，未变 6 人，离开 1 人。",
        "未做任何修改。核对无误后加 --yes 再运行一次即导入。",
    ]
    assert db.read_bytes() == before  # the dry run changed nothing

    r = run("roster", "import", "new.csv", "--full", "--yes", cwd=tmp_path)
    assert r.stdout.splitlines()[-1] == "导入完成：新增 0 人，更新 1 人，未变 6 人，离开 1 人。"
    r = run("roster", "history", "139-0000-0019", cwd=tmp_path)
    heads = [line.split(" ", 2)[2] for line in r.stdout.splitlines() if line[:1] != " "]
    assert heads == [
        f"新增 新同志（13900000019） 命令行（{getpass.getuser()}） roster import roster.csv",
        f"离开 新同志（13900000019） 命令行（{getpass.getuser()}） roster import new.csv",
    ]
    assert "    支部：（空） → 县第一中学党支部" in r.stdout.splitlines()


def test_roster_clash_and_unknown_branch_import_nothing(tmp_path):
    run("db", "upgrade", cwd=tmp_path)
    (tmp_path / "roster.csv").write_text(ROSTER, encoding="utf-8")
    assert run("roster", "import", "roster.csv", "--yes", cwd=tmp_path).returncode == 0
    bad = ROSTER.replace("李书记,县教育局机关党支部", "张冒名,县教育局机关党支部")
    bad += "吴新,县第一中学支部,党员,,13900000088,,,,\n"
    (tmp_path / "bad.csv").write_text(bad, encoding="utf-8")
    before = (tmp_path / "qingfeng.db").read_bytes()
    r = run("roster", "import", "bad.csv", "--yes", cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr.splitlines() == [
        "花名册有 2 处错误，未导入任何人员：",
        "第 10 行：支部“县第一中学支部”不存在。你是不是要写：县第一中学党支部？"
        "如确为新支部，请加 --new-branch 县第一中学支部",
        "第 3 行：手机 13800000002 已属于“李书记”，此行姓名为“张冒名”。"
        "如确为同一人改名，请加 --rename；否则请核对手机号",
    ]
    assert (tmp_path / "qingfeng.db").read_bytes() == before
    r = run(
        "roster",
        "import",
        "bad.csv",
        "--yes",
        "--rename",
        "--new-branch",
        "县第一中学支部",
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    assert "新建支部：县第一中学支部" in r.stdout.splitlines()


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
