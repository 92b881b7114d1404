"""Exit 0 when the PostgreSQL server in argv[1] answers, else print why and exit 1."""

from __future__ import annotations

import asyncio
import sys


async def main(url: str) -> int:
    import asyncpg
    from sqlalchemy.engine import make_url

    u = make_url(url)
    try:
        conn = await asyncpg.connect(
            host=u.host or "127.0.0.1",
            port=u.port or 5432,
            user=u.username,
            password=u.password,
            database=u.database,
            timeout=3,
        )
    except Exception as exc:
        print(f"无法连接 {u.render_as_string(hide_password=True)}（{type(exc).__name__}）")
        return 1
    await conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1])))
