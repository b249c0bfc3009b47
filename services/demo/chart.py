"""The funnel per kabupaten/kota as a PNG chart."""

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt

STAGES = ("registered", "flagged", "housing_fixed", "in_school", "grant", "graduated")
LABELS = ("Registered", "Housing flagged", "Housing fixed", "In school (PKH)", "Business grant",
          "Graduated")


def write_funnel_chart(rows: list[dict[str, Any]], path: Path) -> Path:
    """Grouped bars: one group per kabupaten/kota, one bar per stage of the funnel."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(13, 6), dpi=100)
    width = 0.8 / len(STAGES)
    names = [r["region_name"] for r in rows]
    for i, (stage, label) in enumerate(zip(STAGES, LABELS, strict=True)):
        xs = [x + (i - len(STAGES) / 2 + 0.5) * width for x in range(len(rows))]
        ax.bar(xs, [r[stage] for r in rows], width, label=label)
    ax.set_xticks(range(len(rows)), names, rotation=30, ha="right")
    ax.set_ylabel("Households")
    ax.set_title("Sinergi: households through the funnel per kabupaten/kota, East Kalimantan")
    ax.legend(ncols=3, fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
