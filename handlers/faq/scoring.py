"""Shared shape of the matchers: raw scores per entry, calibrated on held-out phrasings of the content."""

from __future__ import annotations

import re
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence

import numpy as np

from handlers.faq.calibration import (
    GENERIC_OUT_OF_SCOPE,
    NONE,
    Calibration,
    fit_calibration,
    fit_correctness,
    held_out_samples,
    make_folds,
)
from handlers.faq.model import FaqEntry, Match, training_texts

EXACT_CONFIDENCE = 0.99  # a question that is, up to case and punctuation, one phrasing of exactly one entry
_WORD = re.compile(r"\w+", re.UNICODE)


def exact_key(text: str) -> str:
    """Words only, casefolded: cheaper than normalise_question, and blind to inner punctuation too."""
    return " ".join(_WORD.findall(unicodedata.normalize("NFKC", text).casefold()))


class CalibratedMatcher(ABC):
    """Fit = prepare phrasings, calibrate on cross-validation folds, build the final index."""

    default_calibration = Calibration(scale=15.0, none_logit=7.5)  # only used when content is too small

    def __init__(self, n_folds: int = 5, seed: int = 0) -> None:
        self._n_folds = n_folds
        self._seed = seed
        self._ids: list[str] = []
        self._fitted = False
        self._exact: dict[str, int] = {}
        self.calibration = self.default_calibration

    def fit(self, entries: Sequence[FaqEntry], learned: Mapping[str, Sequence[str]] | None = None) -> None:
        """Learn from question + examples (+ learned examples) and calibrate on held-out phrasings."""
        texts, labels = training_texts(entries, learned or {})
        self._ids = [e.id for e in entries]
        owners: dict[str, set[int]] = {}
        for text, label in zip(texts, labels, strict=True):
            owners.setdefault(exact_key(text), set()).add(label)
        # The content (or a 👍) says what these exact questions mean; cross-validation never sees them.
        self._exact = {key: next(iter(found)) for key, found in owners.items() if len(found) == 1}
        self._fitted = False
        if not texts:
            return
        # Generic off-topic sentences go after the content, so content indices stay 0..len(texts)-1.
        generic = list(GENERIC_OUT_OF_SCOPE)
        all_labels = [*labels, *([NONE] * len(generic))]
        self._prepare([*texts, *generic], all_labels)
        folds = make_folds(labels, self._n_folds, self._seed)
        generic_idx = np.arange(len(texts), len(all_labels))
        samples = held_out_samples(all_labels, folds, self._score_fold, generic_idx)
        self.calibration = fit_correctness(samples, fit_calibration(samples, self.default_calibration))
        self._build_final(np.arange(len(texts)))
        self._fitted = True

    def rank(self, text: str, k: int = 3) -> list[Match]:
        """Best k entries with calibrated confidence, highest first."""
        if not self._fitted:
            return []
        probabilities = self.calibration.confidences(self.raw_scores(text))
        exact = self._exact.get(exact_key(text))
        if exact is not None and probabilities[exact] < EXACT_CONFIDENCE:
            others = probabilities.sum() - probabilities[exact]
            if others > 0:
                probabilities *= min(1.0, (1.0 - EXACT_CONFIDENCE) / others)
            probabilities[exact] = EXACT_CONFIDENCE
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


def train_softmax(x: np.ndarray, y: np.ndarray, n_classes: int, l2: float = 1e-2, iters: int = 100) -> np.ndarray:
    """Multinomial logistic regression (weights with a bias row) by Nesterov-accelerated gradient descent.

    Small and dense (embedding heads); the loss is smooth and convex, so a fixed 1/L step converges. With ten
    phrasings per entry a hundred steps is as good as convergence on held-out accuracy and far cheaper.
    """
    n, d = x.shape
    xb = np.hstack([x, np.ones((n, 1), x.dtype)])
    target = np.zeros((n, n_classes), x.dtype)
    target[np.arange(n), y] = 1.0
    step = 1.0 / (0.5 * np.linalg.norm(xb, 2) ** 2 / n + l2)
    w = np.zeros((d + 1, n_classes), x.dtype)
    v, t = w.copy(), 1.0
    for _ in range(iters):
        logits = xb @ v
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        w_next = v - step * (xb.T @ (p - target) / n + l2 * v)
        t_next = (1.0 + np.sqrt(1.0 + 4.0 * t * t)) / 2.0
        v = w_next + ((t - 1.0) / t_next) * (w_next - w)
        w, t = w_next, t_next
    return w


def softmax_rows(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax."""
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)
