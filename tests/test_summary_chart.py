"""The 汇总 chart draws real Chinese glyphs, not missing-glyph boxes."""

from __future__ import annotations

import io
import warnings

import numpy as np
from matplotlib import font_manager
from matplotlib.figure import Figure
from PIL import Image

from handlers.chart import _font, bar_chart_png, font_path


def render(label: str, font: font_manager.FontProperties) -> np.ndarray:
    """`label` drawn alone, as a grey-scale array."""
    fig = Figure(figsize=(1.2, 0.6), dpi=100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the fallback font below warns about its boxes
        fig.text(0.05, 0.3, label, fontproperties=font, fontsize=20)
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
    return np.asarray(Image.open(buf).convert("L"))


def test_the_bundled_font_has_the_glyphs():
    from matplotlib.ft2font import FT2Font

    face = FT2Font(str(font_path()))
    for ch in "县教育局机关党支部组织生活出勤率王党员":
        assert face.get_char_index(ord(ch)) != 0, ch  # 0 is .notdef, the box


def test_chinese_labels_render_as_glyphs_not_boxes():
    cjk = _font()
    latin_only = font_manager.FontProperties(family="DejaVu Sans")
    # Without CJK glyphs every character becomes the same box: the method can see tofu.
    assert np.array_equal(render("党", latin_only), render("勤", latin_only))
    # With the bundled font the characters differ from each other and from the box.
    dang, qin = render("党", cjk), render("勤", cjk)
    assert not np.array_equal(dang, qin)
    assert not np.array_equal(dang, render("党", latin_only))
    assert (dang < 128).sum() > 20  # ink on the page


def test_chart_png_renders_without_missing_glyph_warnings():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        png = bar_chart_png("县教育局机关党支部 组织生活出勤率", ["王党员", "孙预备"], [1.0, 0.5])
    assert not [w for w in caught if "missing from font" in str(w.message)]
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.width > 300
