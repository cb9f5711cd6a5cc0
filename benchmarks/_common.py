"""Shared by the benchmark scripts: where SciFact is, and a machine record."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCIFACT = Path(os.environ.get("VECSTORE_SCIFACT", ROOT.parent / "shared" / "datasets" / "scifact"))


def machine() -> dict[str, object]:
    """The comparison's environment record, plus torch's thread count."""
    import torch

    from vecstore.compare.run import environment

    return {**environment(), "torch_threads": torch.get_num_threads()}
