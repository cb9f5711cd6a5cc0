"""The README's comparison: benchmarks/scifact.toml plus a real Chroma server.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/compare_scifact.py [OUT_DIR]

Starts `chroma run` on a free port for the run and stops it afterwards.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from vecstore.compare import load_config, parse_backend
from vecstore.compare.report import table, write_all
from vecstore.compare.run import run
from vecstore.testing.servers import ChromaServer

HERE = Path(__file__).resolve().parent
#: the embedded stores' directories in scifact.toml, removed before and after the run
TEMPORARY = ("/tmp/vecstore-compare-edge", "/tmp/vecstore-compare-milvus", "/tmp/vecstore-compare-pg-flat",
             "/tmp/vecstore-compare-pg-hnsw")


def main() -> None:
    config = load_config(HERE / "scifact.toml")
    config.out = sys.argv[1] if len(sys.argv) > 1 else str(HERE / "scifact-compare")
    for tmp in TEMPORARY:
        shutil.rmtree(tmp, ignore_errors=True)
    server = ChromaServer().start()
    try:
        config.backends.insert(3, parse_backend(f"chroma-server={server.url}"))
        results = run(config, log=lambda m: print(f"[compare] {m}", file=sys.stderr))
    finally:
        server.cleanup()
        for tmp in TEMPORARY:
            shutil.rmtree(tmp, ignore_errors=True)
    write_all(results, config.out)
    print(table(results))


if __name__ == "__main__":
    main()
