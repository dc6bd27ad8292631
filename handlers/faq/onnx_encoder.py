"""Optional ONNX Runtime path for the semantic matcher (`pip install 'uptake[onnx]'`): same vectors, less latency.

The sentence-transformers model is exported once with torch.onnx (tokeniser output -> unit sentence embedding,
pooling and normalisation inside the graph) and cached on disk, keyed by the model directory's files; later
loads reuse the file. One intra-op thread: a question is answered on one core, as the latency target says.
Tokenisation stays with the model's own (fast) tokenizer, so ids are identical to the torch path.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Sequence
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("uptake.faq")

CACHE_ENV = "UPTAKE_ONNX_CACHE"
RUNTIME_ENV = "UPTAKE_FAQ_ONNX"  # "0" turns the ONNX path off even when onnxruntime is installed
INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def onnx_enabled() -> bool:
    """onnxruntime importable and not switched off."""
    return os.environ.get(RUNTIME_ENV, "1") != "0" and find_spec("onnxruntime") is not None


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "uptake" / "onnx")


def model_key(model_path: str, max_length: int) -> str:
    """Changes when any file of the model directory changes (path, size, mtime) or the input length does."""
    digest = hashlib.sha256(f"{os.path.abspath(model_path)}|{max_length}".encode())
    for path in sorted(Path(model_path).rglob("*")):
        if path.is_file():
            stat = path.stat()
            digest.update(f"{path.relative_to(model_path)}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:20]


class OnnxEncoder:
    """Encodes texts to unit vectors with ONNX Runtime; built from a loaded SentenceTransformer."""

    def __init__(self, model: Any, model_path: str) -> None:
        import onnxruntime as ort

        self._tokenizer = model.tokenizer
        self._max_length = int(model.max_seq_length)
        path = cache_dir() / f"{model_key(model_path, self._max_length)}.onnx"
        if not path.exists():
            export(model, path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._inputs = [i.name for i in self._session.get_inputs()]
        self.path = path

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Unit-length float32 embeddings, batched by length so padding stays short."""
        order = np.argsort([len(t) for t in texts], kind="stable")
        out = np.zeros((len(texts), 0), np.float32)
        for start in range(0, len(texts), batch_size):
            chosen = order[start : start + batch_size]
            vectors = self._run([texts[i] for i in chosen])
            if out.shape[1] == 0:
                out = np.zeros((len(texts), vectors.shape[1]), np.float32)
            out[chosen] = vectors
        return out

    def encode_one(self, text: str) -> np.ndarray:
        return self._run([text])[0]

    def _run(self, texts: Sequence[str]) -> np.ndarray:
        features = self._tokenizer(
            list(texts), padding=True, truncation=True, max_length=self._max_length, return_tensors="np"
        )
        feed = {name: np.asarray(features[name], dtype=np.int64) for name in self._inputs if name in features}
        if "token_type_ids" in self._inputs and "token_type_ids" not in feed:
            feed["token_type_ids"] = np.zeros_like(feed["input_ids"])
        return np.asarray(self._session.run(None, feed)[0], dtype=np.float32)


def export(model: Any, path: Path) -> None:
    """torch.onnx export of the whole module stack, written atomically (two processes may race)."""
    import torch

    class Wrapped(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            features = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
            return torch.nn.functional.normalize(self.model(features)["sentence_embedding"], dim=-1)

    sample = model.tokenizer(["how do I check an answer", "hi"], padding=True, return_tensors="pt")
    if "token_type_ids" not in sample:
        sample["token_type_ids"] = torch.zeros_like(sample["input_ids"])
    path.parent.mkdir(parents=True, exist_ok=True)
    axes = {name: {0: "batch", 1: "tokens"} for name in INPUTS}
    fd, tmp = tempfile.mkstemp(suffix=".onnx", dir=path.parent)
    os.close(fd)
    try:
        with torch.inference_mode():
            torch.onnx.export(
                Wrapped().eval(),
                tuple(sample[name] for name in INPUTS),
                tmp,
                input_names=list(INPUTS),
                output_names=["embedding"],
                dynamic_axes={**axes, "embedding": {0: "batch"}},
                opset_version=17,
                dynamo=False,
            )
        os.replace(tmp, path)
        log.info("faq semantic model exported to ONNX: %s", path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
