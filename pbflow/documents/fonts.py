"""The font every PDF embeds: Noto Serif SC (思源宋体), regular and bold.

A Song (serif) face is what Chinese official forms are set in; Noto Serif SC covers the
Simplified Chinese repertoire (GB 18030 level 1 and 2 hanzi, punctuation) and Latin, so a
document in either language needs no other font. The files come from the npm package
``@expo-google-fonts/noto-serif-sc`` (static TrueType instances of the Google Fonts release,
SIL Open Font License 1.1, which allows embedding) and are copied into ``fonts/`` beside this
module by ``make install``. ReportLab embeds only the glyphs a document uses.
"""

from __future__ import annotations

import threading
from pathlib import Path

FONT_DIR = Path(__file__).resolve().parent / "fonts"
REGULAR = "NotoSerifSC"
BOLD = "NotoSerifSC-Bold"
_FILES = {REGULAR: "NotoSerifSC_400Regular.ttf", BOLD: "NotoSerifSC_700Bold.ttf"}
_lock = threading.Lock()
_registered = False


class FontMissing(RuntimeError):
    """The font files are not installed (``make install`` copies them from npm)."""


def register() -> None:
    """Register the fonts with ReportLab, once per process (workers share nothing else)."""
    global _registered
    if _registered:
        return
    with _lock:
        if _registered:
            return
        from reportlab.lib.fonts import addMapping
        from reportlab.pdfbase import pdfmetrics
        from reportlab.pdfbase.ttfonts import TTFont

        for name, filename in _FILES.items():
            path = FONT_DIR / filename
            if not path.is_file():
                raise FontMissing(
                    f"the PDF font {path} is missing: run 'make install' (it copies the font "
                    "from the npm package @expo-google-fonts/noto-serif-sc)"
                )
            pdfmetrics.registerFont(TTFont(name, str(path)))
        for bold, italic, face in ((0, 0, REGULAR), (1, 0, BOLD), (0, 1, REGULAR), (1, 1, BOLD)):
            addMapping(REGULAR, bold, italic, face)
        _registered = True
