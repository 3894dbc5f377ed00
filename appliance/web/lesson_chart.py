"""A lesson's chart, drawn here as SVG: speaking time per turn, students against the box.

Students' seconds rise above the middle line, the box's hang below it, one pair per
turn, so a lesson where the students did the talking looks top-heavy at a glance.
Only numbers go in (no words), and the page's CSP forbids inline styles, so colours
are presentation attributes.
"""

from __future__ import annotations

from collections.abc import Sequence
from xml.sax.saxutils import escape

STUDENTS = "#0f766e"
BOX = "#8a5cd0"
GRID = "#d9dee5"
TEXT = "#5b6675"
NICE_STEPS = (1, 2, 5, 10, 15, 20, 30, 60, 120, 300)
FONT = 'font-family="system-ui, sans-serif" font-size="14"'


def speaking_chart(
    points: Sequence[tuple[float, float]], width: int = 520, height: int = 230, title: str = ""
) -> str:
    """An SVG document of ``points``, per turn (student seconds, box seconds)."""
    left, right, top, bottom = 50, 10, 32, 26
    plot_w, plot_h = width - left - right, height - top - bottom
    middle = top + plot_h / 2
    label = title or _description(points)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{escape(label, _QUOTE)}">',
        f"<title>{escape(label)}</title>",
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
        _legend(left),
    ]
    if not points:
        parts.append(
            f'<text x="{width / 2:.0f}" y="{middle + 4:.0f}" text-anchor="middle" '
            f'fill="{TEXT}" {FONT}>No turns yet</text>'
        )
        return "".join(parts) + "</svg>"
    peak = max(max(student, box) for student, box in points)
    step = next((s for s in NICE_STEPS if s * 2 >= peak), NICE_STEPS[-1])
    scale_top = step * 2
    half = plot_h / 2

    def y_of(seconds: float) -> float:
        return half * min(seconds, scale_top) / scale_top

    for seconds in (step, scale_top):
        for sign in (-1, 1):
            y = middle + sign * y_of(seconds)
            parts.append(
                f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" '
                f'stroke="{GRID}" stroke-width="1"/>'
            )
            parts.append(
                f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="{TEXT}" '
                f"{FONT}>{seconds:g} s</text>"
            )
    slot = plot_w / len(points)
    bar = max(1.0, min(24.0, slot * 0.7))
    for index, (student, box) in enumerate(points):
        x = left + index * slot + (slot - bar) / 2
        up, down = y_of(student), y_of(box)
        parts.append(
            f'<rect class="student" x="{x:.1f}" y="{middle - up:.1f}" width="{bar:.1f}" '
            f'height="{up:.1f}" fill="{STUDENTS}"/>'
        )
        parts.append(
            f'<rect class="box" x="{x:.1f}" y="{middle:.1f}" width="{bar:.1f}" '
            f'height="{down:.1f}" fill="{BOX}"/>'
        )
    parts.append(
        f'<line x1="{left}" x2="{width - right}" y1="{middle:.1f}" y2="{middle:.1f}" '
        f'stroke="{TEXT}" stroke-width="1"/>'
    )
    every = max(1, -(-len(points) // 10))
    for index in range(0, len(points), every):
        x = left + index * slot + slot / 2
        parts.append(
            f'<text x="{x:.1f}" y="{height - 6}" text-anchor="middle" fill="{TEXT}" '
            f"{FONT}>{index + 1}</text>"
        )
    return "".join(parts) + "</svg>"


_QUOTE = {'"': "&quot;"}


def _legend(left: int) -> str:
    return (
        f'<rect x="{left}" y="8" width="12" height="12" fill="{STUDENTS}"/>'
        f'<text x="{left + 17}" y="18" fill="{TEXT}" {FONT}>Students (up)</text>'
        f'<rect x="{left + 125}" y="8" width="12" height="12" fill="{BOX}"/>'
        f'<text x="{left + 142}" y="18" fill="{TEXT}" {FONT}>Parlo (down)</text>'
        f'<text x="{left + 255}" y="18" fill="{TEXT}" {FONT}>seconds per turn</text>'
    )


def _description(points: Sequence[tuple[float, float]]) -> str:
    if not points:
        return "Speaking time per turn: no turns yet"
    students = sum(point[0] for point in points)
    box = sum(point[1] for point in points)
    return (
        f"Speaking time per turn over {len(points)} turns: students {students:.0f} s, "
        f"Parlo {box:.0f} s"
    )
