"""Where the steering pack's text lands on paper, measured from the PDF itself: every piece of text
the PDF draws (pypdf reads its position and font; fontTools gives the width of its glyphs in that
font), every chart image, and the text inside each chart (vl-convert's scenegraph of the printed
chart). Shared by the PDF tests and the browser tests of the packs."""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pypdf
from fontTools.ttLib import TTFont

FONTS = Path(__file__).resolve().parents[1] / "src" / "pilot_health" / "fonts"
MM = 72 / 25.4  # points per mm


@dataclass(frozen=True)
class Box:
    page: int
    what: str
    x0: float
    y0: float
    x1: float
    y1: float
    size: float = 0.0

    def overlaps(self, other: Box, slack: float = 0.3) -> bool:
        return (
            self.page == other.page
            and self.x0 < other.x1 - slack
            and other.x0 < self.x1 - slack
            and self.y0 < other.y1 - slack
            and other.y0 < self.y1 - slack
        )

    def inside(self, x0: float, y0: float, x1: float, y1: float, slack: float = 0.3) -> bool:
        return self.x0 >= x0 - slack and self.y0 >= y0 - slack and self.x1 <= x1 + slack and self.y1 <= y1 + slack


@cache
def _font(bold: bool):
    font = TTFont(str(FONTS / ("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf")))
    capital = font["glyf"][font.getBestCmap()[ord("H")]]  # the height of a capital letter
    return font, font.getBestCmap(), font["hmtx"], font["head"].unitsPerEm, capital.yMax, font["hhea"].descent


def text_width(text: str, size: float, bold: bool = False) -> float:
    font, cmap, hmtx, units, _, _ = _font(bold)
    return (
        sum(hmtx[cmap.get(ord(c), ".notdef")][0] if ord(c) in cmap else hmtx[".notdef"][0] for c in text) * size / units
    )


def text_height(size: float, bold: bool = False) -> tuple[float, float]:
    """(below, above) the baseline: the descent and the height of capitals."""
    _, _, _, units, cap, descent = _font(bold)
    return -descent * size / units, cap * size / units


def pdf_boxes(data: bytes) -> tuple[list[Box], list[Box], list[tuple[float, float]]]:
    """Every text drawn (its glyphs' box) and every image placed, per page, in points from the
    bottom left; and each page's size."""
    texts, images, sizes = [], [], []
    for number, page in enumerate(pypdf.PdfReader(io.BytesIO(data)).pages):
        sizes.append((float(page.mediabox.width), float(page.mediabox.height)))

        def text(found, cm, tm, font, size, number=number):
            if not found.strip() or font is None:
                return
            bold = "Bold" in str(font.get("/BaseFont", ""))
            scale = tm[0] * cm[0]
            x, y = tm[4] * cm[0] + cm[4], tm[5] * cm[3] + cm[5]
            below, above = text_height(size * scale, bold)
            texts.append(
                Box(
                    number,
                    found.strip(),
                    x,
                    y - below,
                    x + text_width(found.strip(), size * scale, bold),
                    y + above,
                    size * scale,
                )
            )

        def operand(op, args, cm, tm, number=number):
            if op == b"Do":
                images.append(Box(number, str(args[0]), cm[4], cm[5], cm[4] + cm[0], cm[5] + cm[3]))

        page.extract_text(visitor_text=text, visitor_operand_before=operand)
    return texts, images, sizes


def layout_problems(data: bytes, margin_mm: float = 12) -> list[str]:
    """What runs off the page's margins or overlaps: text with text, text with a chart, chart with chart."""
    texts, images, sizes = pdf_boxes(data)
    problems = []
    for box in texts + images:
        width, height = sizes[box.page]
        m = margin_mm * MM
        if not box.inside(m, m, width - m, height - m):
            problems.append(
                f"page {box.page + 1}: “{box.what}” runs past the margins ({box.x0:.0f}–{box.x1:.0f}, {box.y0:.0f}–{box.y1:.0f} pt)"
            )
    for i, a in enumerate(texts):
        for b in texts[i + 1 :] + images:
            if a.overlaps(b):
                problems.append(f"page {a.page + 1}: “{a.what}” overlaps “{b.what}”")
    for i, a in enumerate(images):
        for b in images[i + 1 :]:
            if a.overlaps(b):
                problems.append(f"page {a.page + 1}: two charts overlap")
    return problems


# -- text inside a chart ----------------------------------------------------------------------------


def chart_texts(scenegraph: dict) -> list[Box]:
    """The text items of a Vega scenegraph, as boxes in chart pixels (groups' offsets added)."""
    found: list[Box] = []

    def walk(node, ox: float, oy: float) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item, ox, oy)
            return
        if not isinstance(node, dict):
            return
        kind = node.get("marktype")
        if kind == "group":
            for item in node.get("items", []):
                walk(item.get("items", []), ox + item.get("x", 0), oy + item.get("y", 0))
            return
        if kind == "text":
            for item in node.get("items", []):
                if item.get("opacity", 1) == 0 or item.get("fillOpacity", 1) == 0:
                    continue
                found.append(_text_box(item, ox, oy))
            return
        for value in node.values():
            if isinstance(value, (dict, list)):
                walk(value, ox, oy)

    walk(scenegraph["scenegraph"], 0.0, 0.0)
    return [b for b in found if b.what]


def _text_box(item: dict, ox: float, oy: float) -> Box:
    size = float(item.get("fontSize", 11))
    bold = str(item.get("fontWeight", "")) in ("bold", "700")
    lines = item.get("text")
    lines = [str(t) for t in lines] if isinstance(lines, list) else [str(lines if lines is not None else "")]
    width = max(text_width(t, size, bold) for t in lines)
    below, above = text_height(size, bold)
    height = (below + above) + (len(lines) - 1) * size * 1.2
    x = ox + item.get("x", 0) + item.get("dx", 0)
    y = oy + item.get("y", 0) + item.get("dy", 0)
    align = item.get("align", "left")
    left = x - {"left": 0, "center": width / 2, "right": width}.get(align, 0)
    baseline = item.get("baseline", "alphabetic")
    top = {"top": y, "middle": y - height / 2, "bottom": y - height, "line-top": y, "line-bottom": y - height}.get(
        baseline, y - above
    )
    angle = item.get("angle", 0) % 360
    if angle in (90, 270):  # an axis title turned on its side about its anchor
        along = {"left": (0, width), "center": (-width / 2, width / 2), "right": (-width, 0)}.get(align, (0, width))
        up = {"top": (0, height), "middle": (-height / 2, height / 2), "bottom": (-height, 0)}.get(
            baseline, (-above, below)
        )
        # 270 (-90): the text runs upwards, its top to the left; 90: downwards, its top to the right.
        if angle == 270:
            ys = (y - along[1], y - along[0])
            xs = (x + up[0], x + up[1])
        else:
            ys = (y + along[0], y + along[1])
            xs = (x - up[1], x - up[0])
        return Box(0, " ".join(lines), xs[0], ys[0], xs[1], ys[1], size)
    return Box(0, " ".join(lines), left, top, left + width, top + height, size)


def chart_problems(scenegraph: dict) -> list[str]:
    """Chart labels that overlap each other or fall outside the chart (cut off when it is drawn)."""
    boxes = chart_texts(scenegraph)
    ox, oy = scenegraph.get("origin", (0, 0))
    outside = [
        f"“{b.what}” is cut off at the chart's edge"
        for b in boxes
        if not b.inside(-ox, -oy, scenegraph["width"] - ox, scenegraph["height"] - oy, slack=1)
    ]
    return outside + [
        f"“{a.what}” overlaps “{b.what}”"
        for i, a in enumerate(boxes)
        for b in boxes[i + 1 :]
        if a.overlaps(b, slack=0.5)
    ]
