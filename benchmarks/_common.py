"""Shared by the benchmark scripts: where SciFact is, and a machine record."""

from __future__ import annotations

import datetime
import os
import platform
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCIFACT = Path(os.environ.get("VECSTORE_SCIFACT", ROOT.parent / "shared" / "datasets" / "scifact"))


def machine() -> dict[str, object]:
    import numpy
    import torch

    import vecstore

    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "cpu": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "vecstore": vecstore.__version__,
        "torch_threads": torch.get_num_threads(),
    }
