"""The examples run as documented (a new process each, the real model, real SciFact)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_rag_scifact_switches_backend_by_url(scifact: Path, tmp_path: Path) -> None:
    pytest.importorskip("langchain_core", reason="pip install 'vecstore[langchain]'")
    urls = ["faiss://", f"chroma://{tmp_path}/chroma", f"qdrant://{tmp_path}/qdrant"]
    cmd = [sys.executable, str(ROOT / "examples" / "rag_scifact.py"), str(scifact), "--limit-docs", "600"]
    for url in urls:
        cmd += ["--url", url]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, check=True).stdout
    scores = {m[0]: float(m[2]) for m in re.findall(r"^(\S+): (\d+) questions, nDCG@10 ([0-9.]+)", out, re.M)}
    assert set(scores) == set(urls), out
    assert all(s > 0.5 for s in scores.values()), out  # MiniLM scores 0.645 on all of SciFact
    assert max(scores.values()) - min(scores.values()) < 0.02, out  # the same retriever on every backend
    assert out.count("context for") == 3 and "wrote 600 abstracts" in out
    again = subprocess.run(cmd[:5] + ["--url", urls[1]], capture_output=True, text=True, timeout=600, env=env,
                           check=True).stdout
    assert "wrote" not in again and f"{urls[1]}: " in again  # persisted: found filled, not written again
