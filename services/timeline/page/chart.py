"""The province funnel as an inline SVG chart, drawn on the server (no script, no CDN)."""

import math
from collections.abc import Mapping, Sequence
from typing import Any

from services.timeline.i18n import t
from services.timeline.page.markup import Html, join, tag
from services.timeline.queries import STAGES

STAGE_COLOURS = dict(zip(STAGES, ("#0072B2", "#E69F00", "#56B4E9", "#CC79A7", "#D55E00",
                                  "#009E73"), strict=True))
"""Okabe-Ito colours, told apart with colour-blindness too."""


def _nice_top(largest: int) -> tuple[int, int]:
    """An axis top at or above ``largest`` and a round tick step giving four or five ticks."""
    largest = max(largest, 4)  # a few households must not fill the chart's height
    raw = largest / 4
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    return math.ceil(largest / step) * step, step


def funnel_chart(regions: Sequence[Mapping[str, Any]], lang: str) -> Html:
    """Grouped columns: one group per kabupaten/kota, one column per stage."""
    width, height, left, top, bottom = 1040, 330, 56, 14, 56
    plot_h, group_w = height - top - bottom, (width - left - 8) / max(len(regions), 1)
    bar_w = (group_w - 16) / len(STAGES)
    axis_top, step = _nice_top(max((r[s] for r in regions for s in STAGES), default=0))

    def y(n: int) -> float:
        return top + plot_h * (1 - n / axis_top)

    parts = [tag("title", t("overview.chart", lang))]
    for tick in range(0, axis_top + 1, step):
        parts.append(Html(f'<line class="grid" x1="{left}" x2="{width - 8}" y1="{y(tick):.1f}" '
                          f'y2="{y(tick):.1f}"/>'))
        parts.append(tag("text", tick, x=left - 8, y=f"{y(tick) + 4:.1f}", class_="tick"))
    for i, region in enumerate(regions):
        x0 = left + i * group_w + 8
        for j, stage in enumerate(STAGES):
            n = region[stage]
            label = f"{region['region_name']} · {t(f'stage.{stage}', lang)}: {n}"
            parts.append(tag("rect", tag("title", label), x=f"{x0 + j * bar_w:.1f}",
                             y=f"{y(n):.1f}", width=f"{bar_w - 1:.1f}",
                             height=f"{top + plot_h - y(n):.1f}", fill=STAGE_COLOURS[stage],
                             data_region=region["region_code"], data_stage=stage))
        words = str(region["region_name"]).split()
        lines = [" ".join(words[:-1]), words[-1]] if len(words) > 1 else words
        parts.append(tag("text", join(tag("tspan", line, x=f"{x0 + 3 * bar_w:.1f}",
                                          dy="0" if k == 0 else "14")
                                      for k, line in enumerate(lines)),
                         x=f"{x0 + 3 * bar_w:.1f}", y=top + plot_h + 20, class_="region"))
    return tag("svg", join(parts), role="img", viewBox=f"0 0 {width} {height}",
               xmlns="http://www.w3.org/2000/svg", aria_label=t("overview.chart", lang))
