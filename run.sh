#!/usr/bin/env bash
# 清风 开发脚本：第一次运行时自动创建 .venv 并安装依赖。
#   ./run.sh demo            演示（SQLite + 示例县，无需任何密钥）
#   ./run.sh test            运行全部测试两遍（同时跑）：SQLite 上 TZ=Asia/Shanghai，PostgreSQL 上 TZ=UTC
#                            （连不上 PostgreSQL 则说明原因，第二遍改在 SQLite 上；地址见 QINGFENG_TEST_POSTGRES）
#   ./run.sh test-lowest     用 pyproject 允许的最低版本（tests/constraints-lowest.txt）装进 .venv-lowest，
#                            跑 ruff 和全部测试一遍（SQLite，TZ=UTC）；CI 在 test 之后运行
#   ./run.sh install         生产服务器用：重建 .venv，只装运行所需，不装测试工具
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

# 虚拟环境在以下情况下重建：不存在；pyproject.toml（或约束文件）比其中的 .installed 新；
# 或 .installed 记的种类不同：test（项目加测试工具）、prod（./run.sh install，只有项目）、
# lowest（.venv-lowest，最低版本）。种类变了或是 lowest 时先清空，多余的包不留下。
prepare() {  # prepare 目录 种类 [约束文件]
  local dir="$1" kind="$2" constraints="${3:-}" had=""
  [ -f "$dir/.installed" ] && had="$(cat "$dir/.installed")"
  [ -f "$dir/.installed" ] && [ -z "$had" ] && had=test  # 旧版 run.sh 的空标记：开发环境
  if [ "$had" = "$kind" ] && [ ! pyproject.toml -nt "$dir/.installed" ] &&
     { [ -z "$constraints" ] || [ ! "$constraints" -nt "$dir/.installed" ]; }; then
    return
  fi
  echo "正在准备 $dir（首次需要几分钟）..." >&2
  if [ "$had" != "$kind" ] || [ "$kind" = lowest ]; then
    "$PY" -m venv --clear "$dir"
  else
    "$PY" -m venv "$dir"
  fi
  "$dir/bin/python" -m pip install -q --upgrade pip >&2
  local spec='.[test]'
  [ "$kind" = prod ] && spec='.'
  if [ -n "$constraints" ]; then
    # 用 PIP_CONSTRAINT 而不是 -c：它也约束隔离构建环境里的 setuptools
    PIP_CONSTRAINT="$constraints" "$dir/bin/python" -m pip install -q -e "$spec" >&2
  else
    "$dir/bin/python" -m pip install -q -e "$spec" >&2
  fi
  echo "$kind" >"$dir/.installed"
}

# 看板的浏览器测试用 Debian 的 Chromium（Playwright 不下载浏览器）；没有时那几个测试跳过，这里说清楚
browser_check() {
  if ! command -v chromium >/dev/null 2>&1; then
    echo "注意：没有找到 chromium，看板的浏览器测试会跳过。安装：sudo apt-get install chromium fonts-noto-cjk" >&2
  elif ! fc-list :lang=zh 2>/dev/null | grep -q .; then
    echo "注意：没有中文字体，看板截图里的汉字会显示成方框。安装：sudo apt-get install fonts-noto-cjk" >&2
  fi
}

cmd="${1:-demo}"
[ $# -gt 0 ] && shift
case "$cmd" in
  install|test-lowest) ;;
  test) prepare .venv test ;;
  *)  # 生产环境的 .venv（./run.sh install）保持不装测试工具
    if [ "$(cat .venv/.installed 2>/dev/null)" = prod ]; then prepare .venv prod; else prepare .venv test; fi ;;
esac

case "$cmd" in
  install)
    rm -f .venv/.installed  # 从空环境重装：之前装过的测试工具也去掉
    prepare .venv prod
    echo "已安装到 .venv（不含测试工具）" >&2 ;;
  demo)
    exec .venv/bin/qingfeng demo "$@" ;;
  test-lowest)
    prepare .venv-lowest lowest tests/constraints-lowest.txt
    .venv-lowest/bin/ruff check --output-format concise .
    browser_check
    echo "== 最低版本，SQLite, TZ=UTC" >&2
    env -u QINGFENG_TEST_POSTGRES TZ=UTC .venv-lowest/bin/pytest -q "$@" ;;
  test)
    .venv/bin/ruff check --output-format concise .
    browser_check
    pg="${QINGFENG_TEST_POSTGRES:-postgresql+asyncpg://$(id -un)@127.0.0.1:5432/postgres}"
    # 两遍：SQLite 用 TZ=Asia/Shanghai，PostgreSQL 用 TZ=UTC（服务器时区不同，结果必须一样）；
    # 连不上 PostgreSQL 时第二遍改在 SQLite 上跑 TZ=UTC。两遍同时跑（各用一个核），
    # 输出先写进文件，都跑完后依次打印。
    if reason=$(.venv/bin/python -m tests.pg_check "$pg"); then
      second="PostgreSQL, TZ=UTC"; second_db="$pg"
    else
      echo "跳过 PostgreSQL 测试：$reason" >&2
      second="SQLite, TZ=UTC"; second_db=""
    fi
    logs="$(mktemp -d)"
    env -u QINGFENG_TEST_POSTGRES TZ=Asia/Shanghai .venv/bin/pytest -q "$@" >"$logs/1" 2>&1 &
    first_pid=$!
    QINGFENG_TEST_POSTGRES="$second_db" TZ=UTC .venv/bin/pytest -q -p no:cacheprovider "$@" \
      >"$logs/2" 2>&1 &
    second_pid=$!
    rc1=0; wait "$first_pid" || rc1=$?
    rc2=0; wait "$second_pid" || rc2=$?
    echo "== SQLite, TZ=Asia/Shanghai" >&2; cat "$logs/1"
    echo "== $second" >&2; cat "$logs/2"
    rm -rf "$logs"
    [ "$rc1" -eq 0 ] && [ "$rc2" -eq 0 ] ;;
  *)
    exec .venv/bin/qingfeng "$cmd" "$@" ;;
esac
