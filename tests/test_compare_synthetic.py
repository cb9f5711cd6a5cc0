"""The synthetic clustered workload behind ``benchmarks/scale.py``: generated the same
every time, exact ground truth equal to brute force (and cached without pickle), and a
whole ``vecstore compare`` run on it with filters at 1 % and 50 % selectivity."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from vecstore.compare import compare, synthetic
from vecstore.errors import ConfigError


def test_parse_names_every_parameter_and_rejects_the_rest():
    spec = synthetic.parse("synthetic:clustered?n=1_000&dim=8&queries=5&clusters=3&spread=0.5&seed=7")
    assert spec == synthetic.Synthetic(n=1000, dim=8, queries=5, clusters=3, spread=0.5, seed=7)
    assert synthetic.parse("../shared/datasets/scifact") is None
    for bad, message in [("synthetic:uniform", "clustered"), ("synthetic:clustered?size=3", "unknown parameter 'size'"),
                         ("synthetic:clustered?n=ten", "n must be a number"), ("synthetic:clustered?n=0", "at least 1"),
                         ("synthetic:clustered?spread=-1", "spread above 0")]:
        with pytest.raises(ConfigError, match=message):
            synthetic.parse(bad)


def test_vectors_are_deterministic_unit_rows_and_clustered():
    spec = synthetic.Synthetic(n=3000, dim=16, queries=50, clusters=4, seed=3)
    docs, queries = spec.vectors()
    again, _ = synthetic.Synthetic(n=3000, dim=16, queries=50, clusters=4, seed=3).vectors()
    assert docs.dtype == np.float32 and docs.shape == (3000, 16) and queries.shape == (50, 16)
    assert np.array_equal(docs, again)
    assert not np.array_equal(docs, synthetic.Synthetic(n=3000, dim=16, queries=50, clusters=4, seed=4).vectors()[0])
    np.testing.assert_allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-5)
    # clustered: each vector's nearest neighbour is far closer than a random pair
    sims = docs[:200] @ docs.T
    np.fill_diagonal(sims[:, :200], -1)
    assert np.median(sims.max(axis=1)) > np.median(sims) + 0.3
    # the first block boundary does not change the stream's shape
    assert spec.metadata()[:3] == [{"sel1": 0, "sel50": 0}, {"sel1": 1, "sel50": 1}, {"sel1": 2, "sel50": 0}]
    assert spec.mask({"sel1": 0}).sum() == 30 and spec.mask({"sel50": 0}).sum() == 1500


def test_exact_topk_equals_brute_force_with_ties_by_index():
    rng = np.random.default_rng(0)
    docs = rng.normal(size=(500, 12)).astype(np.float32)
    docs[7] = docs[3]  # a tie: the lower index first
    queries = np.vstack([docs[3], rng.normal(size=(69, 12)).astype(np.float32)])
    got = synthetic.exact_topk(docs, queries, 10, block=16)
    scores = queries @ docs.T
    for row, s in zip(got, scores):
        want = sorted(range(len(s)), key=lambda j: (-s[j], j))[:10]
        assert list(row) == want
    assert list(got[0][:2]) == [3, 7]
    assert synthetic.exact_topk(docs[:4], queries, 10).shape == (70, 4)


def test_ground_truth_is_cached_as_plain_npz(tmp_path):
    spec = synthetic.Synthetic(n=2000, dim=8, queries=20, clusters=5)
    docs, queries = spec.vectors()
    first = synthetic.ground_truth(spec, docs, queries, 10, tmp_path)
    (path,) = (tmp_path / "groundtruth").glob("*.npz")
    with np.load(path, allow_pickle=False) as saved:  # no object arrays: loads without pickle
        assert sorted(saved.files) == sorted(["all", *synthetic.FILTERS])
    # served from the cache: a call with other vectors gets the cached answer
    cached = synthetic.ground_truth(spec, docs[::-1].copy(), queries, 10, tmp_path)
    for name in first:
        assert np.array_equal(first[name], cached[name])
    rows = np.flatnonzero(spec.mask({"sel1": 0}))
    assert set(first["1%"].ravel()) <= set(rows.tolist())
    assert np.array_equal(first["all"], synthetic.exact_topk(docs, queries, 10))


def test_compare_on_a_synthetic_workload(tmp_path, monkeypatch):
    monkeypatch.setenv("VECSTORE_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "out"
    results = compare("synthetic:clustered?n=3000&dim=16&queries=30&clusters=20", ["flat=faiss://", "chroma://"],
                      out=out, repeat=1, warmup=2, concurrency=2)
    flat, chroma = results["backends"]
    assert flat["status"] == chroma["status"] == "ok"
    assert results["dataset"]["documents"] == 3000 and results["dataset"]["synthetic"]["clusters"] == 20
    assert results["dataset"]["filters"] == {"1%": {"filter": {"sel1": 0}, "matches": 30},
                                             "50%": {"filter": {"sel50": 0}, "matches": 1500}}
    assert flat["recall@10"] == 1.0
    assert {label: f["recall@10"] for label, f in flat["filters"].items()} == {"1%": 1.0, "50%": 1.0}
    assert flat["filtered"] == flat["filters"]["1%"] and flat["filters"]["1%"]["short_results"] == 0
    assert chroma["recall@10"] > 0.8 and "quality" not in flat
    assert flat["rss"]["peak_after_bytes"] >= flat["rss"]["peak_before_bytes"] > 0
    assert results["embedding"]["documents_embedded"] == 0
    summary = (out / "summary.md").read_text()
    assert "Filtered search by selectivity" in summary and '1% `{"sel1": 0}` | 30 |' in summary
    assert list((tmp_path / "cache" / "groundtruth").glob("*.npz"))


def test_cli_compare_takes_a_synthetic_dataset(tmp_path):
    env_cmd = [sys.executable, "-m", "vecstore.cli", "compare", "synthetic:clustered?n=500&dim=8&queries=10",
               "--backend", "faiss://", "--out", str(tmp_path / "o"), "--repeat", "1", "--warmup", "1", "-q"]
    done = subprocess.run(env_cmd, capture_output=True, text=True, timeout=300,
                          env={"VECSTORE_CACHE_DIR": str(tmp_path / "c"), "PATH": "", "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "o" / "results.json").read_text())["backends"][0]["recall@10"] == 1.0
    bad = subprocess.run(env_cmd[:4] + ["synthetic:clustered?n=x"] + env_cmd[5:], capture_output=True, text=True,
                         timeout=300, env={"VECSTORE_CACHE_DIR": str(tmp_path / "c"), "PATH": ""})
    assert bad.returncode != 0 and "n must be a number" in bad.stderr
