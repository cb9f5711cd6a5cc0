"""Backend comparison: identical queries on every backend, quality and speed side by side.

>>> from vecstore.compare import compare
>>> results = compare("../shared/datasets/scifact", ["faiss://", "hnsw=faiss://?index=hnsw", "qdrant://"],
...                   out="compare-out", sweep={"ef_search": [16, 32, 64, 128]})
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .config import BackendSpec, CompareConfig, load_config, parse_backend, parse_sweep

__all__ = ["BackendSpec", "CompareConfig", "compare", "load_config", "parse_backend", "parse_sweep"]


def compare(dataset: str | Path, backends: list[str | BackendSpec], out: str | Path | None = None,
            **options: Any) -> dict[str, Any]:
    """Run a comparison; with ``out``, also write results.json, summary.md, report.html and PNGs there."""
    from .report import write_all
    from .run import run

    embedder = options.pop("embedder", None)
    cache = options.pop("cache", True)
    log = options.pop("log", lambda _msg: None)
    specs = [parse_backend(b) if isinstance(b, str) else b for b in backends]
    if out:
        options["out"] = str(out)
    config = CompareConfig(dataset=str(dataset), backends=specs, **options)
    results = run(config, embedder=embedder, cache=cache, log=log)
    if out:
        write_all(results, out)
    return results
