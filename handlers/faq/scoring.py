"""Shared shape of the matchers: raw scores per entry, calibrated on held-out phrasings of the content."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence

import numpy as np

from handlers.faq.calibration import Calibration, fit_calibration, held_out_samples, make_folds
from handlers.faq.model import FaqEntry, Match, training_texts


class CalibratedMatcher(ABC):
    """Fit = prepare phrasings, calibrate on cross-validation folds, build the final index."""

    default_calibration = Calibration(scale=15.0, none_logit=7.5)  # only used when content is too small

    def __init__(self, n_folds: int = 5, seed: int = 0) -> None:
        self._n_folds = n_folds
        self._seed = seed
        self._ids: list[str] = []
        self._fitted = False
        self.calibration = self.default_calibration

    def fit(self, entries: Sequence[FaqEntry], learned: Mapping[str, Sequence[str]] | None = None) -> None:
        """Learn from question + examples (+ learned examples) and calibrate on held-out phrasings."""
        texts, labels = training_texts(entries, learned or {})
        self._ids = [e.id for e in entries]
        self._fitted = False
        if not texts:
            return
        self._prepare(texts, labels)
        folds = make_folds(labels, self._n_folds, self._seed)
        samples = held_out_samples(labels, folds, self._score_fold)
        self.calibration = fit_calibration(samples, self.default_calibration)
        self._build_final(np.arange(len(texts)))
        self._fitted = True

    def rank(self, text: str, k: int = 3) -> list[Match]:
        """Best k entries with calibrated confidence, highest first."""
        if not self._fitted:
            return []
        probabilities = self.calibration.probabilities(self.raw_scores(text))
        best = np.argsort(-probabilities, kind="stable")[:k]
        return [Match(self._ids[i], float(probabilities[i])) for i in best]

    @abstractmethod
    def _prepare(self, texts: Sequence[str], labels: Sequence[int]) -> None:
        """Turn every phrasing into its representation once; texts come grouped by entry."""

    @abstractmethod
    def _score_fold(self, train: np.ndarray, queries: np.ndarray) -> list[np.ndarray]:
        """Raw scores of the `queries` phrasings against an index built on the `train` phrasings."""

    @abstractmethod
    def _build_final(self, train: np.ndarray) -> None:
        """Build the index that `raw_scores` uses."""

    @abstractmethod
    def raw_scores(self, text: str) -> np.ndarray:
        """Uncalibrated score in [0, 1] per entry."""
