"""The 汇总 chart: attendance rates as a PNG (matplotlib, Agg), with real Chinese glyphs.

The CJK font ships in the `noto-cjk-sans-otc` dependency, so a fresh install draws Chinese
without any system fonts.
"""

from __future__ import annotations

import io
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from handlers.summary import SummaryData

FONT_PACKAGE = "noto_cjk_sans_otc"
FONT_FILE = "NotoSansCJK-Regular.ttc"
MAX_BARS = 30  # more would be unreadable on a phone


def font_path() -> Path:
    return Path(str(resources.files(FONT_PACKAGE).joinpath(FONT_FILE)))


@lru_cache(maxsize=1)
def _font() -> Any:
    """The CJK font, registered once per process (loading it takes a moment)."""
    from matplotlib import font_manager

    path = font_path()
    font_manager.fontManager.addfont(str(path))
    return font_manager.FontProperties(fname=str(path))


def bar_chart_png(title: str, labels: list[str], rates: list[float]) -> bytes:
    """Horizontal bars of rates (0..1), labelled in Chinese."""
    from matplotlib.figure import Figure

    font = _font()
    height = 1.2 + 0.38 * len(labels)
    fig = Figure(figsize=(6.4, height), dpi=100)
    # Fixed margins instead of tight_layout, which lays the text out several times over.
    fig.subplots_adjust(left=0.3, right=0.95, top=1 - 0.5 / height, bottom=0.6 / height)
    ax = fig.add_subplot()
    ys = list(range(len(labels)))[::-1]
    bars = ax.barh(ys, [r * 100 for r in rates], color="#c0392b", height=0.6)
    ax.set_yticks(ys, labels, fontproperties=font)
    ax.set_xlim(0, 110)
    ax.set_xlabel("出勤率（%）", fontproperties=font)
    ax.set_title(title, fontproperties=font)
    for bar, rate in zip(bars, rates, strict=True):
        ax.text(bar.get_width() + 1, bar.get_y() + bar.get_height() / 2, f"{rate * 100:.0f}%",
                va="center", fontsize=8)  # fmt: skip
    ax.spines[["top", "right"]].set_visible(False)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def summary_chart(data: SummaryData) -> bytes | None:
    """Per-branch (county) or per-member (one branch) event attendance rates; None if none."""
    if data.scope.county:
        pairs = [(b.name, b.counts.attendance_rate) for b in data.branches]
    else:
        pairs = [(m.name, m.counts.attendance_rate) for m in data.members]
    points = [(name, rate) for name, rate in pairs if rate is not None][:MAX_BARS]
    if not points:
        return None
    title = f"{data.scope.label} 组织生活出勤率 · {data.period.label}"
    return bar_chart_png(title, [n for n, _ in points], [r for _, r in points])
