"""What a comparison runs: the dataset, the backends with their options, and
how queries are measured.  From CLI flags or a TOML/YAML file::

    dataset = "../shared/datasets/scifact"
    k = 10
    repeat = 3
    concurrency = [1, 4, 16]   # clients at once, one level each
    sweep = {ef_search = [16, 32, 64, 128], num_candidates = [20, 50, 100, 200]}

    [[backend]]
    label = "faiss-hnsw"
    url = "faiss://"
    index = "hnsw"
    options = {m = 32, ef_construction = 200}

On the command line a backend is ``[LABEL=]URL``; query parameters that are
collection or search options (``index``, ``m``, ``ef_construction``,
``ef_search``, ``num_candidates``, ...) are taken out of the URL, the rest are
connection options: ``--backend faiss-hnsw=faiss://?index=hnsw&m=32``.
"""

from __future__ import annotations

import dataclasses
import json
import urllib.parse
from pathlib import Path
from typing import Any

from ..errors import ConfigError

#: URL query keys that configure the collection, not the connection.
COLLECTION_KEYS = {"index", "m", "ef_construction", "quantization", "full_scan_threshold", "indexing_threshold",
                   "payload_indexes"}
#: URL query keys that are per-query search parameters.
SEARCH_KEYS = {"ef_search", "num_candidates"}


@dataclasses.dataclass
class BackendSpec:
    url: str
    label: str = ""
    index: str | None = None
    options: dict[str, Any] = dataclasses.field(default_factory=dict)  # collection (index) options
    search_params: dict[str, Any] = dataclasses.field(default_factory=dict)
    connect_options: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.label:
            self.label = self.url.split("?")[0] + (f" {self.index}" if self.index else "")


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_backend(arg: str) -> BackendSpec:
    """``[LABEL=]URL[?index=hnsw&m=32&ef_search=64&timeout=5]``."""
    label = ""
    head = arg.split("://", 1)[0]
    if "=" in head:
        label, arg = arg.split("=", 1)
    base, _, query = arg.partition("?")
    index, options, search, connect = None, {}, {}, {}
    for key, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
        if key == "index":
            index = value
        elif key in COLLECTION_KEYS:
            options[key] = _value(value)
        elif key in SEARCH_KEYS:
            search[key] = _value(value)
        else:
            connect[key] = value
    return BackendSpec(base, label, index, options, search, connect)


@dataclasses.dataclass
class EmbedderSpec:
    """An embedding variant to compare: a model on a runtime, optionally int8 or fp16."""

    label: str
    model: str | None = None
    backend: str = "torch"
    quantize: str | None = None
    precision: str = "fp32"

    def options(self) -> dict[str, Any]:
        opts: dict[str, Any] = {"backend": self.backend}
        if self.quantize:
            opts["quantize"] = self.quantize
        if self.precision != "fp32":
            opts.update(precision=self.precision, device="cuda")
        return opts


def parse_embedder(arg: str) -> EmbedderSpec:
    """``[LABEL=]BACKEND[:int8|:fp16][@MODEL]``, e.g. ``onnx:int8``, ``mpnet=torch@all-mpnet-base-v2``."""
    from ..embed import check_variant

    label, sep, rest = arg.partition("=")
    if not sep:
        label, rest = "", arg
    rest, _, model = rest.partition("@")
    backend, _, mode = rest.partition(":")
    if mode not in ("", "int8", "fp16", "fp32"):
        raise ConfigError(f"--embedder {arg!r}: the part after ':' is int8, fp16 or fp32")
    spec = EmbedderSpec(label or arg, model or None, backend or "torch", "int8" if mode == "int8" else None,
                        "fp16" if mode == "fp16" else "fp32")
    check_variant(spec.backend, spec.quantize, spec.precision)
    return spec


@dataclasses.dataclass
class CompareConfig:
    dataset: str
    backends: list[BackendSpec]
    out: str = "compare-out"
    k: int = 10
    #: depth of the ranking scored against judgments (Recall@100 needs 100)
    quality_k: int = 100
    repeat: int = 3
    warmup: int = 10
    #: concurrency levels: clients sending the queries at once (processes, or Ray actors with
    #: engine="ray"; threads for a store in this process); one number is one level
    concurrency: list[int] = dataclasses.field(default_factory=lambda: [4])
    #: "local" (client processes) or "ray" (client actors on the cluster at ray_address)
    engine: str = "local"
    ray_address: str | None = None
    #: also measure the highest level while the corpus is upserted again (streaming writes)
    while_ingesting: bool = False
    model: str | None = None
    #: inference options of the model whose vectors go to the backends (backend, quantize, ...)
    embedding: dict[str, Any] = dataclasses.field(default_factory=dict)
    #: more embedding variants, compared with that one on exact search (quality, speed, agreement)
    embedders: list[EmbedderSpec] = dataclasses.field(default_factory=list)
    #: documents each embedder embeds, in turns, to time it (texts/s)
    embedder_sample: int = 300
    #: BEIR split whose judged queries are used
    split: str = "test"
    max_docs: int | None = None
    max_queries: int | None = None
    #: metadata field to filter on; "" for none; the default adds a synthetic one
    filter_field: str | None = None
    #: with no filter field: tag each document with bucket = hash(id) % 10 and filter on bucket 0 (~10 %)
    synthetic_filter: bool = True
    #: parameter sweeps, e.g. {"ef_search": [16, 32, 64, 128]}
    sweep: dict[str, list[Any]] = dataclasses.field(default_factory=dict)
    collection: str = "vecstore-compare"
    #: queries file (jsonl: id, text) and qrels (tsv) for a non-BEIR dataset
    queries: str | None = None
    qrels: str | None = None
    #: search modes measured on every backend (vecstore.lexical.MODES); dense is always measured
    modes: list[str] = dataclasses.field(default_factory=lambda: ["dense"])

    def __post_init__(self) -> None:
        from ..lexical import MODES

        if isinstance(self.modes, str):
            self.modes = [m.strip() for m in self.modes.split(",") if m.strip()]
        unknown = [m for m in self.modes if m not in MODES]
        if unknown or not self.modes:
            raise ConfigError(f"unknown search mode(s) {unknown or self.modes}: use {', '.join(MODES)}")
        if not self.backends:
            raise ConfigError("compare needs at least one --backend")
        self.concurrency = parse_levels(self.concurrency)
        if self.engine not in ("local", "ray"):
            raise ConfigError(f"unknown engine {self.engine!r}: use 'local' or 'ray'")
        for name in ("k", "quality_k", "repeat"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1")
        labels = [b.label for b in self.backends]
        if len(set(labels)) != len(labels):
            raise ConfigError(f"backend labels must be unique, got {labels}; name them LABEL=URL")
        self.embedders = [parse_embedder(e) if isinstance(e, str) else e for e in self.embedders]
        names = [e.label for e in self.embedders]
        if len(set(names)) != len(names):
            raise ConfigError(f"embedder labels must be unique, got {names}; name them LABEL=SPEC")


def parse_levels(value: Any) -> list[int]:
    """``4``, ``[1, 4, 16]`` or ``"1,4,16"`` → ``[1, 4, 16]`` (sorted, distinct, each at least 1)."""
    items = value.split(",") if isinstance(value, str) else value if isinstance(value, (list, tuple)) else [value]
    try:
        levels = sorted({int(str(v).strip()) for v in items if str(v).strip()})
    except ValueError:
        raise ConfigError(f"concurrency takes client counts such as 1,4,16, got {value!r}") from None
    if not levels or levels[0] < 1:
        raise ConfigError(f"concurrency levels must be at least 1, got {value!r}")
    return levels


def parse_sweep(items: list[str] | None) -> dict[str, list[Any]]:
    """``["ef_search=16,32,64"]`` → ``{"ef_search": [16, 32, 64]}``."""
    out: dict[str, list[Any]] = {}
    for item in items or []:
        key, sep, values = item.partition("=")
        if not sep or key not in SEARCH_KEYS:
            raise ConfigError(f"--sweep takes PARAM=V1,V2,... with PARAM one of {sorted(SEARCH_KEYS)}, got {item!r}")
        out[key] = [_value(v) for v in values.split(",") if v]
    return out


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> CompareConfig:
    """A TOML (``.toml``) or YAML (``.yaml``/``.yml``) config; ``overrides`` win."""
    p = Path(path)
    text = p.read_text(encoding="utf-8")
    if p.suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError as exc:
            from ..errors import BackendNotInstalledError

            raise BackendNotInstalledError("YAML configs need pyyaml: pip install 'vecstore[compare]'") from exc
        data = yaml.safe_load(text) or {}
    else:
        try:
            import tomllib
        except ImportError:  # Python 3.10
            import tomli as tomllib  # type: ignore[no-redef]
        data = tomllib.loads(text)
    data = {**data, **{k: v for k, v in (overrides or {}).items() if v is not None}}
    raw_backends = data.pop("backend", None) or data.pop("backends", [])
    backends = [parse_backend(b) if isinstance(b, str) else BackendSpec(**b) for b in raw_backends]
    fields = {f.name for f in dataclasses.fields(CompareConfig)}
    unknown = set(data) - fields
    if unknown:
        raise ConfigError(f"{p}: unknown setting(s) {sorted(unknown)}")
    if "dataset" in data and not Path(data["dataset"]).is_absolute():
        data["dataset"] = str((p.parent / data["dataset"]).resolve())
    return CompareConfig(backends=backends, **data)
