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
