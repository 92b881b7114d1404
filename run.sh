#!/usr/bin/env bash
# 清风 开发脚本：第一次运行时自动创建 .venv 并安装依赖。
#   ./run.sh demo            演示（SQLite + 示例县，无需任何密钥）
#   ./run.sh test            运行全部测试（TZ=UTC 与 TZ=Asia/Shanghai 各一遍）
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
    TZ=Asia/Shanghai .venv/bin/pytest -q "$@"
    TZ=UTC .venv/bin/pytest -q "$@" ;;
  *)
    exec .venv/bin/qingfeng "$cmd" "$@" ;;
esac
