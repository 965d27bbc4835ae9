"""One way to draw the project's line charts (accuracy per round, disk use per period) into a PNG."""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  # pylint: disable=wrong-import-position

DPI = 120


@dataclass(frozen=True)
class Line:
    """One series: x and y values (None for a gap), its label and matplotlib style."""

    label: str
    x: Sequence[float]
    y: Sequence[Optional[float]]
    style: str = "o-"
    options: Dict[str, Any] = field(default_factory=dict)


def plot_lines(
    lines: Sequence[Line],
    path: Path,
    xlabel: str,
    ylabel: str,
    title: str = "",
    vertical_at: Optional[float] = None,
) -> None:
    """Draw the lines on one pair of axes (integer x ticks, grid, legend) and save the PNG at `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    figure, axes = plt.subplots(figsize=(8, 4.5))
    for line in lines:
        values = [float("nan") if value is None else value for value in line.y]
        axes.plot(line.x, values, line.style, label=line.label, **line.options)
    if vertical_at is not None:
        axes.axvline(vertical_at, color="grey", linewidth=0.8)
    axes.set(xlabel=xlabel, ylabel=ylabel, title=title)
    axes.xaxis.get_major_locator().set_params(integer=True)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7 if len(lines) > 4 else 9, ncol=2 if len(lines) > 4 else 1)
    figure.tight_layout()
    figure.savefig(path, dpi=DPI)
    plt.close(figure)
