"""Configuration: the TOML file, environment overrides, clear errors, no secrets in them."""

from __future__ import annotations

import tomllib
from datetime import time
from importlib import resources

import pytest

from bot.config import ConfigError, load_settings


def write(tmp_path, text: str):
    path = tmp_path / "qingfeng.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = load_settings(None, env={})
    assert s.timezone == "Asia/Shanghai"
    assert s.database.url == "sqlite+aiosqlite:///qingfeng.db"
    assert s.checkin.morning.on_time_by == time(8, 30)
    assert s.server.export_ttl_hours == 24


def test_file_values_and_env_overrides(tmp_path):
    path = write(
        tmp_path,
        '[server]\nport = 9000\n[wecom]\ncorp_id = "ww1"\n[wecom.app]\nsecret = "from-file"\n',
    )
    s = load_settings(
        path,
        env={"QINGFENG_SERVER__PORT": "9100", "QINGFENG_DATABASE__URL": "postgresql+asyncpg://x/y"},
    )
    assert s.server.port == 9100  # the environment wins over the file
    assert s.database.url == "postgresql+asyncpg://x/y"
    assert s.wecom.corp_id == "ww1"
    assert s.wecom.app.secret.get_secret_value() == "from-file"


def test_config_file_from_environment_variable(tmp_path):
    path = write(tmp_path, "[server]\nport = 9200\n")
    assert load_settings(None, env={"QINGFENG_CONFIG": str(path)}).server.port == 9200


def test_bad_value_names_the_key(tmp_path):
    path = write(tmp_path, '[server]\nport = "eighty"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(path, env={})
    assert "server.port" in str(err.value)
    assert str(path) in str(err.value)


def test_typo_key_is_named(tmp_path):
    path = write(tmp_path, "[server]\nprot = 80\n")
    with pytest.raises(ConfigError, match=r"server\.prot: 不认识的配置项"):
        load_settings(path, env={})


def test_secret_never_appears_in_errors(tmp_path):
    path = write(tmp_path, '[wecom.app]\nagent_id = "top-secret-value"\nsecret = "s3cr3t-xyz"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(path, env={"QINGFENG_DINGTALK__APP_SECRET": "dt-secret-123"})
    text = str(err.value)
    assert "wecom.app.agent_id" in text
    assert "top-secret-value" not in text and "s3cr3t-xyz" not in text
    assert "dt-secret-123" not in text


def test_secret_not_in_repr(tmp_path):
    s = load_settings(write(tmp_path, '[wecom.app]\nsecret = "s3cr3t-xyz"\n'), env={})
    assert "s3cr3t-xyz" not in repr(s) and "s3cr3t-xyz" not in str(s.model_dump())


def test_broken_toml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="格式错误"):
        load_settings(write(tmp_path, "[server\nport = 1"), env={})
    with pytest.raises(ConfigError, match="找不到配置文件"):
        load_settings(tmp_path / "nope.toml", env={})


def test_bad_timezone_and_window(tmp_path):
    with pytest.raises(ConfigError, match="timezone"):
        load_settings(write(tmp_path, 'timezone = "Mars/Olympus"\n'), env={})
    text = '[checkin]\nmorning = { start = "09:00", end = "08:00" }\n'
    with pytest.raises(ConfigError, match=r"checkin\.morning\.end"):
        load_settings(write(tmp_path, text), env={})


def test_unknown_database_driver(tmp_path):
    with pytest.raises(ConfigError, match=r"database\.url"):
        load_settings(write(tmp_path, '[database]\nurl = "mysql://x"\n'), env={})


def test_shipped_template_is_valid_and_complete(tmp_path):
    text = resources.files("bot").joinpath("qingfeng.example.toml").read_text("utf-8")
    data = tomllib.loads(text)
    for key in ("database", "server", "wecom", "dingtalk", "checkin", "reminders"):
        assert key in data
    assert {"corp_id", "api_base", "app", "aibot"} <= set(data["wecom"])
    s = load_settings(write(tmp_path, text), env={})
    assert s.branch("县教育局机关党支部").daily_checkin is True
    assert s.branch("别的支部").daily_checkin is False


# --- values that cannot work stop start-up, each as one line naming the key ---------------
def one_error(tmp_path, text: str) -> str:
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, text), env={})
    message = str(err.value)
    assert "\n" not in message and "Traceback" not in message
    assert message.startswith("配置错误（")
    return message


def test_short_encoding_aes_key_is_named(tmp_path):
    message = one_error(tmp_path, f'[wecom.aibot]\ntoken = "t"\nencoding_aes_key = "{"k" * 42}"\n')
    assert "配置项 wecom.aibot.encoding_aes_key: 应为管理后台生成的 43 位 EncodingAESKey" in message
    assert "现为 42 位" in message and "k" * 42 not in message  # the key itself is never shown


def test_aes_key_with_characters_outside_base64_is_named(tmp_path):
    message = one_error(tmp_path, f'[wecom.app]\nencoding_aes_key = "{"-" * 43}"\n')
    assert "配置项 wecom.app.encoding_aes_key" in message


def test_public_url_without_a_scheme_is_named(tmp_path):
    message = one_error(tmp_path, '[server]\npublic_url = "127.0.0.1:8080/x"\n')
    assert "配置项 server.public_url: 应为以 http:// 或 https:// 开头" in message


def test_api_bases_and_ws_url_need_their_schemes(tmp_path):
    assert "配置项 wecom.api_base" in one_error(tmp_path, '[wecom]\napi_base = "qyapi"\n')
    assert "配置项 dingtalk.api_base" in one_error(
        tmp_path, '[dingtalk]\napi_base = "ftp://api.dingtalk.com"\n'
    )
    message = one_error(tmp_path, '[wecom.aibot]\nws_url = "https://openws.example"\n')
    assert "配置项 wecom.aibot.ws_url: 应为以 ws:// 或 wss:// 开头" in message


def test_misspelt_webhook_is_named_without_its_key(tmp_path):
    text = (
        '[[groups]]\nname = "一中群"\nwebhook = "htps//qyapi.weixin.qq.com/cgi-bin/webhook/'
        'send?key=robot-key-123"\n'
    )
    message = one_error(tmp_path, text)
    assert "配置项 groups.0.webhook: 应为以 http:// 或 https:// 开头" in message
    assert "robot-key-123" not in message


def test_pydantic_errors_are_worded_in_chinese(tmp_path):
    assert "配置项 server.port: 应为整数" in one_error(tmp_path, '[server]\nport = "eighty"\n')
    assert "配置项 server.port: 不能大于 65535" in one_error(tmp_path, "[server]\nport = 70000\n")
    text = '[dingtalk]\nmode = "stream"\n'
    expected = "配置项 dingtalk.mode: 只能是 'callback' 或 'long_connection'"
    assert expected in one_error(tmp_path, text)


def test_several_errors_give_one_line_each(tmp_path):
    path = write(tmp_path, '[server]\nport = "x"\npublic_url = "nope"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(path, env={})
    lines = str(err.value).splitlines()
    assert len(lines) == 2
    assert all(line.startswith(f"配置错误（{path}）：配置项 server.") for line in lines)


def test_valid_urls_and_keys_are_accepted(tmp_path):
    text = (
        '[server]\npublic_url = "https://qingfeng.example.edu.cn/bot"\n'
        '[wecom]\ncorp_id = "ww1"\napi_base = "http://127.0.0.1:9000"\n'
        f'[wecom.app]\ntoken = "t"\nencoding_aes_key = "{"a1+/" * 10}abc"\n'
        '[[groups]]\nname = "群"\nwebhook = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k"\n'
    )
    s = load_settings(write(tmp_path, text), env={})
    assert s.server.public_url == "https://qingfeng.example.edu.cn/bot"
    assert s.wecom.app.encoding_aes_key.get_secret_value() == "a1+/" * 10 + "abc"


def test_env_lists_and_sections_are_json_and_merge_with_the_file(tmp_path):
    path = write(tmp_path, '[server]\nport = 9000\nhost = "10.0.0.1"\n')
    env = {
        "QINGFENG_SERVER__PORT": "9100",
        "QINGFENG_BRANCHES": '[{"name": "第一支部", "daily_checkin": true}]',
        "QINGFENG_CHECKIN__MORNING": '{"start": "00:00", "end": "23:59"}',
        "qingfeng_timezone": "Asia/Urumqi",  # any case, as the environment allows
        "QINGFENG_TEST_POSTGRES": "not a setting: left alone",
    }
    s = load_settings(path, env=env)
    assert (s.server.host, s.server.port) == ("10.0.0.1", 9100)  # merged key by key
    assert s.branch("第一支部").daily_checkin
    assert s.checkin.morning.end == time(23, 59)
    assert s.timezone == "Asia/Urumqi"
    with pytest.raises(ConfigError, match="QINGFENG_BRANCHES 应为 JSON"):
        load_settings(path, env={"QINGFENG_BRANCHES": "第一支部"})
