"""Lexical and semantic scores mixed, then calibrated again: words catch terms, embeddings paraphrases.

The lexical half is the whole default matcher, n-grams *and* the static word-piece vectors whitened with the
content's own within-entry covariance (MiniLM's sentence embedding is not fitted to the content, these are), at
0.7 semantic / 0.3 lexical. Mean 5-fold CV top-1 of the FAQ files (BANKING77, CLINC150, starter pack) 0.808
semantic alone, 0.795 with n-grams alone at 0.6, 0.812 now; BANKING77 10-shot test top-1 0.846 / 0.850 / 0.850
(frozen encoder) and 0.853 / 0.856 / 0.857 (tuned) in the same order (bench/README.md, session 5).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from handlers.faq.lexical import LexicalMatcher
from handlers.faq.scoring import CalibratedMatcher
from handlers.faq.semantic import SemanticMatcher

# Chosen by 5-fold cross-validation of the FAQ files (BANKING77 and CLINC150 seeds 0-2, the starter pack),
# mean held-out top-1 0.805 / 0.812 / 0.812 at 0.6 / 0.7 / 0.8 (semantic alone 0.808); never on test queries.
SEMANTIC_WEIGHT = 0.7


class HybridMatcher(CalibratedMatcher):
    """Raw score = w * semantic + (1 - w) * lexical, calibrated like either matcher."""

    def __init__(
        self,
        semantic_weight: float = SEMANTIC_WEIGHT,
        model_path: str | None = None,
        n_folds: int = 5,
        seed: int = 0,
    ) -> None:
        super().__init__(n_folds, seed)
        self._weight = semantic_weight
        self._lexical = LexicalMatcher(n_folds, seed)
        self._semantic = SemanticMatcher(model_path, n_folds, seed)

    def _prepare(self, texts: Sequence[str], labels: Sequence[int]) -> None:
        for part in (self._lexical, self._semantic):
            part._ids = self._ids
            part._prepare(texts, labels)

    def _score_fold(self, train: np.ndarray, queries: np.ndarray) -> list[np.ndarray]:
        lexical = self._lexical._score_fold(train, queries)
        semantic = self._semantic._score_fold(train, queries)
        return [self._mix(lex, sem) for lex, sem in zip(lexical, semantic, strict=True)]

    def _build_final(self, train: np.ndarray) -> None:
        self._lexical._build_final(train)
        self._semantic._build_final(train)

    def raw_scores(self, text: str) -> np.ndarray:
        """Uncalibrated mixed score in [0, 1] for every entry."""
        return self._mix(self._lexical.raw_scores(text), self._semantic.raw_scores(text))

    def _mix(self, lexical: np.ndarray, semantic: np.ndarray) -> np.ndarray:
        return self._weight * semantic + (1.0 - self._weight) * lexical
