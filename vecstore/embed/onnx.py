"""A sentence-transformers model on ONNX Runtime, exported once from its own weights.

``vecstore search`` answers from a cold process: importing torch and
sentence-transformers alone takes longer than the whole search should.  So the
first time a model is used for search it is exported (torch's ONNX exporter,
from the weights already on disk: nothing is downloaded) into
``<cache>/onnx/<key>/``, and later processes encode queries with ONNX Runtime
and the model's own ``tokenizers`` tokenizer, with the same pooling in the
graph: the same vectors as sentence-transformers within float rounding
(tested to 1e-4, measured ~1e-7).

What is exported: models made of a ``Transformer`` and a ``Pooling`` module
(mean, CLS or max pooling, prompts included in the pooling), optionally
followed by ``Normalize`` — the common sentence-transformers layout.  Any
other layout is simply not exported and keeps running on torch.

The export's directory is keyed by the model's name, the directory its weights
were loaded from and the names, sizes and modification times of the files in
it; a small pointer file per model name finds it without loading anything.
When the weights change, the key changes and the model is exported again.
Two processes exporting at once each write a private temporary directory and
rename it into place (the first wins; ``config.json`` is written last, so a
directory without it is incomplete and ignored); a corrupt export (a size
that does not match, or a file ONNX Runtime refuses) is removed and redone.

``VECSTORE_ONNX=0`` turns the fast path off (everything runs on torch).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("vecstore.embed")

#: Bumped when the exported graph or its config changes meaning.
EXPORT_VERSION = 1
POOLING_MODES = ("mean", "cls", "max")


def enabled() -> bool:
    return os.environ.get("VECSTORE_ONNX", "1").strip().lower() not in ("0", "false", "no", "off")


def export_root() -> Path:
    from ..pipeline.cache import default_cache_dir

    return default_cache_dir() / "onnx"


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:20]


def source_stamp(path: str) -> list[list[Any]]:
    """Names, sizes and modification times of the files a model was loaded from."""
    out = []
    for root, dirs, files in os.walk(path, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            full = os.path.join(root, name)
            st = os.stat(full)
            out.append([os.path.relpath(full, path), st.st_size, st.st_mtime_ns])
    return out


def _pointer(name: str) -> Path:
    return export_root() / "names" / f"{_digest(name)}.json"


def _write_json(path: Path, data: Any) -> None:
    """Atomically: a reader sees the old file or the new one, never half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _read_json(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def find_export(name: str) -> tuple[Path, dict[str, Any]] | None:
    """The complete, current export of model ``name``, or ``None`` (cheap: no heavy import)."""
    pointer = _read_json(_pointer(name))
    if not isinstance(pointer, dict) or pointer.get("name") != name:
        return None
    directory = export_root() / str(pointer.get("key"))
    config = _read_json(directory / "config.json")
    if not isinstance(config, dict) or config.get("version") != EXPORT_VERSION:
        return None
    source = config.get("source")
    try:
        if not source or source_stamp(source) != config.get("stamp"):
            return None  # the weights changed (or are gone): export again
        if (directory / "model.onnx").stat().st_size != config.get("onnx_bytes"):
            raise OSError("model.onnx has the wrong size")
    except OSError:
        _remove(directory)
        return None
    return directory, config


def _remove(directory: Path) -> None:
    log.warning("removing an incomplete or corrupt ONNX export at %s", directory)
    shutil.rmtree(directory, ignore_errors=True)


def exportable(model: Any) -> str | None:
    """Why the sentence-transformers ``model`` cannot be exported (``None``: it can)."""
    kinds = [type(m).__name__ for m in model]
    if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        return f"modules {kinds}"
    pooling = model[1].get_config_dict()
    if pooling.get("pooling_mode") not in POOLING_MODES:
        return f"pooling {pooling.get('pooling_mode')!r}"
    if pooling.get("include_prompt") is False:
        return "pooling excludes the prompt"
    if not getattr(model.tokenizer, "is_fast", False):
        return "no fast tokenizer"
    return None


def export(name: str, model: Any) -> tuple[Path, dict[str, Any]] | None:
    """Export a loaded sentence-transformers ``model`` (once); ``None`` when its layout is not supported."""
    why = exportable(model)
    if why is not None:
        log.info("%s runs on torch only: %s", name, why)
        return None
    source = str(getattr(model[0].auto_model.config, "_name_or_path", "") or "")
    if not os.path.isdir(source):
        log.info("%s runs on torch only: its weights' directory is unknown", name)
        return None
    stamp = source_stamp(source)
    key = _digest({"name": name, "source": source, "stamp": stamp, "version": EXPORT_VERSION})
    root = export_root()
    directory = root / key
    found = find_export(name)
    if found is None or found[0] != directory:
        if not (directory / "config.json").exists():
            _export_into(root, directory, name, model, source, stamp)
        _write_json(_pointer(name), {"name": name, "key": key})
        found = find_export(name)
    return found


def _export_into(root: Path, directory: Path, name: str, model: Any, source: str, stamp: Any) -> None:
    import torch

    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=".export-"))
    try:
        tokenizer = model.tokenizer
        inputs = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in tokenizer.model_input_names]
        mode = model[1].get_config_dict()["pooling_mode"]
        graph = _Pooled(model[0].auto_model, inputs, mode).eval()
        sample = tokenizer(["a sample", "another, longer sample text"], padding=True, return_tensors="pt")
        args = tuple(sample[n] for n in inputs)
        axes: dict[str, dict[int, str]] = {n: {0: "batch", 1: "tokens"} for n in inputs}
        axes["embedding"] = {0: "batch"}
        with torch.no_grad(), _quiet_exporter():
            torch.onnx.export(graph, args, str(tmp / "model.onnx"), input_names=inputs,
                              output_names=["embedding"], dynamic_axes=axes, opset_version=17, dynamo=False)
        tokenizer.backend_tokenizer.save(str(tmp / "tokenizer.json"))
        config = {
            "version": EXPORT_VERSION,
            "name": name,
            "source": source,
            "stamp": stamp,
            "inputs": inputs,
            "pooling": mode,
            "normalize_module": len(model) == 3,
            "max_seq_length": int(model.max_seq_length),
            "prompts": {str(k): str(v) for k, v in (getattr(model, "prompts", None) or {}).items()},
            "lowercase": bool(getattr(model[0], "do_lower_case", False)),
            "pad_id": int(tokenizer.pad_token_id or 0),
            "pad_token": str(tokenizer.pad_token or "[PAD]"),
            "dim": int(graph(*args).shape[1]),
            "onnx_bytes": (tmp / "model.onnx").stat().st_size,
        }
        _write_json(tmp / "config.json", config)  # last: its presence marks a complete export
        try:
            os.rename(tmp, directory)
        except OSError:
            if not (directory / "config.json").exists():  # an incomplete leftover: replace it
                shutil.rmtree(directory, ignore_errors=True)
                os.rename(tmp, directory)
            # else another process finished the same export first
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def _quiet_exporter() -> Any:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@contextlib.contextmanager
def _no_root_warnings() -> Any:
    """onnxruntime's quantizer advises pre-processing through the root logger: not the user's concern."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def _pooled_module() -> Any:
    import torch

    class Pooled(torch.nn.Module):
        """The transformer and its pooling as one graph: token ids in, one vector per text out."""

        def __init__(self, transformer: Any, inputs: list[str], mode: str) -> None:
            super().__init__()
            self.transformer, self.inputs, self.mode = transformer, inputs, mode

        def forward(self, *args: Any) -> Any:
            feed = dict(zip(self.inputs, args))
            hidden = self.transformer(**feed).last_hidden_state
            if self.mode == "cls":
                return hidden[:, 0]
            mask = feed["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            if self.mode == "max":
                return (hidden - (1 - mask) * 1e9).max(dim=1).values
            return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)

    return Pooled


def _Pooled(transformer: Any, inputs: list[str], mode: str) -> Any:  # noqa: N802 - a class, built lazily
    return _pooled_module()(transformer, inputs, mode)


def cpu_config() -> str:
    """The int8 configuration for this CPU: ``avx512_vnni``, ``avx512``, ``avx2``, ``arm64`` or ``generic``."""
    import platform

    if platform.machine().lower() in ("arm64", "aarch64"):
        return "arm64"
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            flags = set(next((line for line in f if line.startswith("flags")), "").split())
    except OSError:
        flags = set()
    for config, needs in (("avx512_vnni", {"avx512f", "avx512_vnni"}), ("avx512", {"avx512f"}), ("avx2", {"avx2"})):
        if needs <= flags:
            return config
    return "generic"


#: ``quantize_dynamic`` weight type per CPU configuration, as optimum's ``AutoQuantizationConfig``
#: chooses it (u8 weights on AVX2, s8 elsewhere); activations are u8, only the fully connected
#: operators (MatMul, Add) are quantised, full 8-bit range.
_INT8 = {"avx512_vnni": "QInt8", "avx512": "QInt8", "avx2": "QUInt8", "arm64": "QInt8", "generic": "QUInt8"}
#: Per-channel weight scales (more accurate, slightly larger); ``VECSTORE_INT8_PER_CHANNEL=0`` for per-tensor.
PER_CHANNEL = os.environ.get("VECSTORE_INT8_PER_CHANNEL", "1") != "0"


def int8_file(directory: Path, config_name: str | None = None) -> str:
    """The int8 model of an export (made once, atomically, beside ``model.onnx``); returns its file name."""
    config_name = config_name or cpu_config()
    name = f"model.int8-{config_name}{'' if PER_CHANNEL else '-tensor'}.onnx"
    target = directory / name
    stamp = directory / f"{name}.json"
    if target.exists() and (_read_json(stamp) or {}).get("bytes") == target.stat().st_size:
        return name
    from onnxruntime.quantization import QuantType, quantize_dynamic

    weight, per_channel = _INT8[config_name], PER_CHANNEL
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".onnx")
    os.close(fd)
    try:
        with _quiet_exporter(), _no_root_warnings():
            quantize_dynamic(str(directory / "model.onnx"), tmp, weight_type=getattr(QuantType, weight),
                             per_channel=per_channel, reduce_range=False, op_types_to_quantize=["MatMul", "Add"])
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    _write_json(stamp, {"bytes": target.stat().st_size, "weight_type": weight, "per_channel": per_channel})
    return name


class OnnxEncoder:
    """Texts to vectors with ONNX Runtime (or OpenVINO) and ``tokenizers`` only (no torch)."""

    def __init__(self, directory: Path, config: dict[str, Any], batch_size: int = 32, *,
                 runtime: str = "onnx", file: str = "model.onnx") -> None:
        from tokenizers import Tokenizer

        self.config = config
        self.dim = int(config["dim"])
        self.batch_size = batch_size
        self.runtime = runtime
        self.file = file
        try:
            self._run = _openvino(directory / file) if runtime == "openvino" else _onnxruntime(directory / file)
            self._tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        except ImportError:
            raise
        except Exception:
            _remove(directory)
            raise
        self._counter: Any = None  # the same tokenizer without padding or truncation, made on first use
        self._tokenizer.enable_truncation(max_length=int(config["max_seq_length"]))
        self._tokenizer.enable_padding(pad_id=int(config["pad_id"]), pad_token=str(config["pad_token"]))

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Pooled, not normalised (unless the model itself normalises), like ``encode(normalize_embeddings=False)``."""
        out = []
        for start in range(0, len(texts), self.batch_size):
            # as sentence-transformers' Transformer.tokenize: strip, optionally lower-case
            part = [str(t).strip() for t in texts[start : start + self.batch_size]]
            if self.config["lowercase"]:
                part = [t.lower() for t in part]
            enc = self._tokenizer.encode_batch(part)
            arrays = {
                "input_ids": np.array([e.ids for e in enc], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64),
                "token_type_ids": np.array([e.type_ids for e in enc], dtype=np.int64),
            }
            vectors = self._run({n: arrays[n] for n in self.config["inputs"]})
            out.append(np.asarray(vectors, dtype=np.float32))
        vectors = np.concatenate(out) if out else np.empty((0, self.dim), dtype=np.float32)
        if self.config["normalize_module"]:
            vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return vectors

    def count_tokens(self, texts: Sequence[str]) -> list[list[tuple[int, int]]]:
        if self._counter is None:  # a copy, so that encode() in another thread keeps its settings
            from tokenizers import Tokenizer

            counter = Tokenizer.from_str(self._tokenizer.to_str())
            counter.no_padding()
            counter.no_truncation()
            self._counter = counter
        enc = self._counter.encode_batch(list(texts), add_special_tokens=False)
        return [[(int(a), int(b)) for a, b in e.offsets] for e in enc]


def _onnxruntime(path: Path) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return lambda feed: session.run(None, feed)[0]


def _openvino(path: Path) -> Any:
    import openvino

    compiled = openvino.Core().compile_model(str(path), "CPU")
    output = compiled.output(0)
    return lambda feed: compiled(feed)[output]
