#!/usr/bin/env bash
# 清风 开发脚本：第一次运行时自动创建 .venv 并安装依赖。
#   ./run.sh demo            演示（SQLite + 示例县，无需任何密钥）
#   ./run.sh test            运行全部测试：SQLite 上 TZ=Asia/Shanghai 与 TZ=UTC 各一遍，
#                            再在 PostgreSQL 上一遍（连不上则跳过并说明；地址见 QINGFENG_TEST_POSTGRES）
#   ./run.sh <qingfeng 参数>  其他命令，例如 ./run.sh calendar 2026
set -euo pipefail
cd "$(dirname "$0")"

PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      PY="$candidate"
      break
    fi
  done
fi
[ -n "$PY" ] || { echo "需要 Python 3.11 或更高版本" >&2; exit 1; }

if [ ! -f .venv/.installed ] || [ pyproject.toml -nt .venv/.installed ]; then
  echo "正在准备 .venv（首次需要几分钟）..." >&2
  "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip >&2
  .venv/bin/python -m pip install -q -e '.[test]' >&2
  touch .venv/.installed
fi

cmd="${1:-demo}"
[ $# -gt 0 ] && shift
case "$cmd" in
  demo)
    exec .venv/bin/qingfeng demo "$@" ;;
  test)
    .venv/bin/ruff check --output-format concise .
    pg="${QINGFENG_TEST_POSTGRES:-postgresql+asyncpg://$(id -un)@127.0.0.1:5432/postgres}"
    echo "== SQLite, TZ=Asia/Shanghai" >&2
    env -u QINGFENG_TEST_POSTGRES TZ=Asia/Shanghai .venv/bin/pytest -q "$@"
    if reason=$(.venv/bin/python -m tests.pg_check "$pg"); then
      echo "== SQLite, TZ=UTC" >&2
      env -u QINGFENG_TEST_POSTGRES TZ=UTC .venv/bin/pytest -q "$@"
      echo "== PostgreSQL, TZ=UTC" >&2
      QINGFENG_TEST_POSTGRES="$pg" TZ=UTC .venv/bin/pytest -q "$@"
    else
      echo "跳过 PostgreSQL 测试：$reason" >&2
      echo "== SQLite, TZ=UTC" >&2
      env -u QINGFENG_TEST_POSTGRES TZ=UTC .venv/bin/pytest -q "$@"
    fi ;;
  *)
    exec .venv/bin/qingfeng "$cmd" "$@" ;;
esac
