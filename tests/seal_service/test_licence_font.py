"""The per-document font subset and the line breaking that measures with it."""

from __future__ import annotations

import io

from fontTools.cffLib import CFFFontSet
from fontTools.pens.recordingPen import RecordingPen
from fontTools.ttLib import TTFont

from seal_service.fonts import licence_font
from seal_service.layout import wrap

TEXT = "营业执照 Licence No. 0123，（有限公司）䶮\U00020087〓"


def test_subset_draws_exactly_the_original_outlines() -> None:
    font = licence_font()
    codepoints = list(dict.fromkeys(ord(ch) for ch in TEXT))
    cff = CFFFontSet()
    cff.decompile(io.BytesIO(font.subset_cff(codepoints)), None)
    top = cff.topDictIndex[0]
    assert top.ROS == ("Adobe", "Identity", 0)
    assert len(top.CharStrings) == len(codepoints) + 1

    with TTFont(font.path, lazy=True) as original:
        cmap = original.getBestCmap()
        charstrings = original["CFF "].cff.topDictIndex[0].CharStrings
        for cid, cp in enumerate(codepoints, start=1):
            # CID i is the subset's glyph i (an identity charset).
            subset_glyph = top.CharStrings[top.charset[cid]]
            drawn, expected = RecordingPen(), RecordingPen()
            subset_glyph.draw(drawn)
            charstrings[cmap[cp]].draw(expected)
            assert drawn.value == expected.value, chr(cp)
            assert subset_glyph.width == font.advance(cp) == original["hmtx"][cmap[cp]][0]


def test_subset_tag_is_six_capitals_and_follows_the_content() -> None:
    font = licence_font()
    tag = font.subset_tag([1, 2, 3])
    assert len(tag) == 6 and tag.isalpha() and tag.isupper()
    assert font.subset_tag([1, 2, 3]) == tag != font.subset_tag([1, 2, 4])


def test_wrap_breaks_cjk_anywhere_and_latin_at_spaces() -> None:
    font = licence_font()
    # 10 pt: a CJK character is 10 pt wide, so 5 fit in 50 pt.
    width_mm = 50.5 / 72 * 25.4
    assert wrap(font, "一二三四五六七八九十", 10, width_mm) == ["一二三四五", "六七八九十"]
    assert wrap(font, "甲乙丙丁戊。己", 10, width_mm) == ["甲乙丙丁", "戊。己"]
    # At 10 pt "Unified social" is 67.7 pt wide, "Unified social credit" 99 pt.
    lines = wrap(font, "Unified social credit code", 10, 80 / 72 * 25.4)
    assert lines == ["Unified social", "credit code"]
    # A word wider than the line breaks where it must.
    lines = wrap(font, "X" * 30, 10, width_mm)
    assert "".join(lines) == "X" * 30 and len(lines) > 1
    assert all(font.text_width(line, 10) <= 50.5 for line in lines)
    assert wrap(font, "第一行\n第二行", 10, width_mm) == ["第一行", "第二行"]
