"""``vecstore compare --concurrency 1,4,16``: the query set from N client processes at once against
a real Chroma server (threads for a store in this process), with the agreement between levels,
and ``--while-ingesting``."""

from __future__ import annotations

import pytest

from vecstore.compare import compare
from vecstore.compare.config import parse_levels
from vecstore.embed import HashEmbedder
from vecstore.errors import ConfigError


def test_levels_parse():
    assert parse_levels("16,1,4") == [1, 4, 16] and parse_levels(4) == [4] and parse_levels([2, 2, 1]) == [1, 2]
    for bad in ("0", "a,b", "", [0, 4]):
        with pytest.raises(ConfigError, match="concurrency"):
            parse_levels(bad)


def test_unknown_engine_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="unknown engine"):
        compare(str(tmp_path), ["faiss://"], engine="spark")


@pytest.mark.integration
def test_client_processes_against_a_real_chroma_server(tmp_path, vecstore_url_for):
    from tests.test_pipeline import make_beir

    chroma = vecstore_url_for("chroma", server=True)
    data = make_beir(tmp_path / "beir", n=60)
    out = tmp_path / "out"
    results = compare(data, ["flat=faiss://", f"chroma={chroma}"], out=out, embedder=HashEmbedder(32), cache=False,
                      repeat=3, warmup=1, concurrency=[1, 4], while_ingesting=True)
    flat, server = results["backends"]
    assert flat["status"] == server["status"] == "ok", server.get("error")
    queries = 3 * results["dataset"]["queries"]
    for row, kind in ((server, "processes"), (flat, "threads")):
        assert [(lv["clients"], lv["kind"]) for lv in row["levels"]] == [(1, kind), (4, kind)]
        for lv in row["levels"]:
            assert lv["queries"] == queries and lv["qps"] > 0 and lv["p99_ms"] >= lv["p50_ms"] > 0
            assert lv["identical_topk"] == 1.0  # 4 clients find exactly what one finds
            assert lv["recall@10"] == row["recall@10"]
        streaming = row["while_ingesting"]
        assert streaming["clients"] == 4 and streaming["written"] > 0 and streaming["writes_per_s"] > 0
        assert streaming["queries"] == queries and streaming["recall@10"] >= 0.9
    assert server["concurrent"]["clients"] == 4 and flat["concurrent"]["threads"] == 4
    summary = (out / "summary.md").read_text()
    assert "Queries from several clients at once" in summary and "| chroma | 4 | processes |" in summary
    assert (out / "qps_vs_clients.png").stat().st_size > 0


def test_a_client_that_cannot_connect_fails_the_level_with_a_vecstore_error(tmp_path):
    """Four clients that cannot connect: the level fails with their vecstore error (backend and
    URL in it), not with a broken start line or a hang."""
    import numpy as np

    from vecstore.compare import clients
    from vecstore.errors import BackendUnavailableError
    from vecstore.testing.servers import free_port

    dead = f"chroma://127.0.0.1:{free_port()}"

    class Col:
        name = "c"

    queries = np.ones((8, 4), dtype=np.float32)
    with pytest.raises(BackendUnavailableError, match="127.0.0.1"):
        clients.measure_level(Col(), dead, {}, queries, 4, 3, {}, 1, "local", [], [])
