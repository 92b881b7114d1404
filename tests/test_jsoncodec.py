"""The per-message JSON codec: what the stdlib encoder accepts, it writes; what no platform
sends, it refuses."""

from __future__ import annotations

import json

import pytest

from bot import jsoncodec
from storage.models import Role


def test_text_stays_readable_and_non_string_keys_become_strings():
    data = {"text": "✅ 上班签到成功", Role.ADMIN: 1, 7: ["a"]}
    out = jsoncodec.dumps(data)
    assert "上班签到成功" in out  # not \u escapes
    assert json.loads(out) == json.loads(json.dumps(data, ensure_ascii=False))


@pytest.mark.parametrize(
    "raw", [b'{"a": NaN}', b'{"a": "\\ud800"}', b"\xff\xfe{}", b"[" * 2000 + b"]" * 2000]
)
def test_what_no_platform_sends_is_refused_as_a_value_error(raw):
    with pytest.raises(ValueError):
        jsoncodec.loads(raw)
