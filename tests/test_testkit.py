"""vecstore's pytest plugin as a user project sees it: installed with the
package, fixtures usable without copying code, servers cleaned up."""

from __future__ import annotations

import subprocess

EXAMPLE = '''
import numpy as np


def test_roundtrip_on_every_backend(vecstore_collection):
    col = vecstore_collection(dim=4, metric="dot")
    col.upsert([{"id": "a", "vector": [1, 0, 0, 0], "metadata": {"lang": "en"}},
                {"id": "b", "vector": [0, 1, 0, 0], "metadata": {"lang": "es"}}])
    hits = col.search(np.array([1, 0.1, 0, 0]), k=1, filter={"lang": "en"})
    assert [h.id for h in hits] == ["a"]


def test_named_store(qdrant_store):
    assert qdrant_store.collection("named", dim=2).count() == 0
    qdrant_store.drop_collection("named")


def test_elasticsearch_or_skip(elasticsearch_store):
    assert elasticsearch_store.list_collections() is not None
'''


def _chroma_processes() -> set[str]:
    out = subprocess.run(["pgrep", "-f", "chroma run --path"], capture_output=True, text=True).stdout
    return set(out.split())


def test_user_project_uses_the_fixtures(pytester, monkeypatch):
    for var in ("QDRANT_URL", "ELASTICSEARCH_URL", "CHROMA_URL", "MILVUS_URL"):
        monkeypatch.delenv(var, raising=False)
    before = _chroma_processes()
    pytester.makepyfile(test_example=EXAMPLE)
    summary = pytester.path / "summary.txt"
    monkeypatch.setenv("VECSTORE_BACKEND_SUMMARY", str(summary))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rs",
                                           "--vecstore-backends=faiss,chroma,qdrant,elasticsearch")
    from vecstore.testing.servers import docker_available

    if docker_available():  # pragma: no cover - machines with Docker run everything
        result.assert_outcomes(passed=6)
    else:
        result.assert_outcomes(passed=4, skipped=2)
        result.stdout.fnmatch_lines(["*no elasticsearch available*set ELASTICSEARCH_URL*"])
    result.stdout.fnmatch_lines(["*vecstore backends*", "vecstore backend chroma: ran against chroma://127.0.0.1:*"])
    lines = summary.read_text().splitlines()
    assert any(line.startswith("vecstore backend qdrant: ran against") for line in lines)
    assert _chroma_processes() <= before  # the `chroma run` it started is gone


def test_plugin_is_registered_through_the_entry_point():
    from importlib.metadata import entry_points

    assert "vecstore.testing.plugin" in {ep.value for ep in entry_points(group="pytest11")}


def test_plugin_is_active_in_this_session(request):
    assert request.config.pluginmanager.has_plugin("vecstore")


def test_compose_file_pins_every_image_like_the_test_kit():
    import re
    from pathlib import Path

    from vecstore.testing.servers import IMAGES

    text = (Path(__file__).resolve().parents[1] / "docker-compose.yml").read_text()
    images = re.findall(r"^\s+image:\s*(\S+)", text, flags=re.M)
    assert sorted(images) == sorted(IMAGES.values())
    assert all(re.search(r":v?\d+\.\d+\.\d+(-pg\d+)?$", image) for image in images), images
    assert text.count("healthcheck:") == len(images)


def test_containers_can_be_switched_off(monkeypatch):
    from vecstore.testing import servers

    monkeypatch.setenv("VECSTORE_CONTAINERS", "0")
    assert servers.docker_available() is False  # whatever Docker there is: CI's fast job
