"""Optional dependencies and matplotlib, shared by the comparison report and the explorer."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np

from .errors import BackendNotInstalledError


def require(module: str, extra: str) -> Any:
    """Import ``module`` or raise naming the pip extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise BackendNotInstalledError(f"this needs {module.split('.')[0]}: pip install 'vecstore[{extra}]'") from exc


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend (files only, no display)."""
    require("matplotlib", "viz").use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig: Any, path: str | Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")  # long axis labels stay inside
    pyplot().close(fig)
    return Path(path)


def off_diagonal_range(matrix: Any) -> tuple[float, float]:
    """The colour range of a similarity matrix: its off-diagonal values (the diagonal is 1)."""
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape[0] < 2:
        return 0.0, 1.0
    off = m[~np.eye(m.shape[0], dtype=bool)]
    lo, hi = float(off.min()), float(off.max())
    return (lo, hi) if hi > lo else (lo - 0.01, hi + 0.01)


#: Where a point's label may go, in points from the point: right-above first, then around it,
#: then the same directions farther out (with a leader line) for crowded points.
_LABEL_SPOTS = tuple((dx * r, dy * r) for r in (1, 3, 5)
                     for dx, dy in ((3, 3), (3, -3), (-3, 3), (-3, -3), (0, 6), (0, -6), (6, 0), (-6, 0)))


def place_labels(ax: Any, xy: Any, texts: list[str], fontsize: float = 8) -> list[tuple[float, float, float, float]]:
    """Annotate each point with its text where it overlaps the fewest labels already placed
    (greedy, among eight spots around the point); returns the labels' boxes in display pixels."""
    fig = ax.figure
    fig.canvas.draw()  # the axes' limits and transforms are final
    px = fig.dpi / 72.0
    height = fontsize * px * 1.2
    placed: list[tuple[float, float, float, float]] = []
    points = ax.transData.transform(np.asarray(xy, dtype=float))
    for (x, y), text, (a, b) in zip(points, texts, np.asarray(xy, dtype=float)):
        width = len(text) * fontsize * px * 0.62
        best = None
        for dx, dy in _LABEL_SPOTS:
            x0 = x + dx * px - (width if dx < 0 else width / 2 if dx == 0 else 0)
            y0 = y + dy * px - (height if dy < 0 else height / 2 if dy == 0 else 0)
            box = (x0, y0, x0 + width, y0 + height)
            cost = sum(_overlap(box, other) for other in placed)
            if best is None or cost < best[0]:
                best = (cost, box, dx, dy)
            if cost == 0:
                break
        assert best is not None
        _, box, dx, dy = best
        placed.append(box)
        far = abs(dx) + abs(dy) > 12
        ax.annotate(text, (a, b), fontsize=fontsize, xytext=(dx, dy), textcoords="offset points",
                    ha="right" if dx < 0 else "center" if dx == 0 else "left",
                    va="top" if dy < 0 else "center" if dy == 0 else "bottom",
                    arrowprops={"arrowstyle": "-", "lw": 0.4, "color": "0.5"} if far else None)
    return placed


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return w * h if w > 0 and h > 0 else 0.0
