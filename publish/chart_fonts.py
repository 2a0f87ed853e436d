"""The Chinese font the report's charts draw with: found in matplotlib's list, or added to it.

matplotlib lists fonts from a cache it built once; a Chinese font installed after that is found
through fontconfig (``fc-list :lang=zh``) and added to the list and to that cache.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import subprocess
from pathlib import Path

# names tried first; any other installed font whose name suggests CJK is tried after them
_CJK_FONTS = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Noto Serif CJK SC",
    "Droid Sans Fallback",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC",
    "Heiti SC",
    "AR PL UMing CN",
    "AR PL UKai CN",
    "Noto Sans CJK JP",
    "Noto Sans CJK TC",
)
_CJK_HINTS = ("CJK", "Han Sans", "Han Serif", "WenQuanYi", "Hei", "Song", "Kai", "Ming", "Fallback")
_CJK_PROBE = "山西示范区综合评价营业收入亩均"


@functools.lru_cache(maxsize=1)
def find_cjk_font() -> str | None:
    """The family name of an installed font that really has the Chinese glyphs, or None.

    matplotlib lists fonts from a cache it built once: a Chinese font installed after that is
    on the system but not in the list. Such a font file (fontconfig knows it) is added to the
    list, and the list saved back to matplotlib's cache, so the charts are drawn in Chinese.
    """
    found = _cjk_in_font_list()
    if found is None and _add_uncached_cjk_fonts():
        found = _cjk_in_font_list()
    return found


def _cjk_in_font_list() -> str | None:
    """The first font of matplotlib's list that has the glyphs of the charts' Chinese text."""
    from matplotlib import font_manager, ft2font

    files: dict[str, str] = {}
    for entry in font_manager.fontManager.ttflist:
        files.setdefault(entry.name, entry.fname)
    named = [n for n in _CJK_FONTS if n in files]
    hinted = sorted(n for n in files if n not in named and any(h in n for h in _CJK_HINTS))
    for name in named + hinted:
        try:
            font = ft2font.FT2Font(files[name])
        except (OSError, RuntimeError, ValueError):
            continue
        # a name is no proof: check the glyphs the charts need actually exist
        if all(font.get_char_index(ord(ch)) for ch in _CJK_PROBE):
            return name
    return None


def cjk_font_files() -> list[str]:
    """The font files fontconfig says cover Chinese (none without fontconfig's ``fc-list``)."""
    fc = shutil.which("fc-list")
    if fc is None:
        return []
    try:
        out = subprocess.run(  # noqa: S603 (fontconfig's own tool, fixed arguments)
            [fc, ":lang=zh", "file"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    # each line is "<path>: "
    return sorted({line.rsplit(":", 1)[0].strip() for line in out.splitlines() if ":" in line})


def font_cache_file() -> Path:
    """matplotlib's font list cache (what it reads at import instead of scanning the fonts)."""
    import matplotlib
    from matplotlib import font_manager

    version = font_manager.FontManager.__version__
    return Path(matplotlib.get_cachedir()) / f"fontlist-v{version}.json"


def _add_uncached_cjk_fonts() -> bool:
    """Add the Chinese fonts matplotlib's list lacks; True when one was added."""
    from matplotlib import font_manager

    listed = {os.path.realpath(e.fname) for e in font_manager.fontManager.ttflist}
    added = False
    for path in cjk_font_files():
        if os.path.realpath(path) in listed:
            continue
        try:
            font_manager.fontManager.addfont(path)
        except (OSError, RuntimeError, ValueError):
            continue  # a file matplotlib cannot read: the others may still do
        added = True
    if added:
        # the next process reads the font from the cache, without this detour; a read-only
        # cache costs the detour next time, nothing else
        with contextlib.suppress(OSError):
            font_manager.json_dump(font_manager.fontManager, font_cache_file())
    return added
