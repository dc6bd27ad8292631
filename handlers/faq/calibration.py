"""Turn raw similarity scores into calibrated probabilities, fitted on held-out phrasings of the content.

The model is a softmax over the entries plus one "no entry" option: logit_j = a * score_j, logit_none = b.
Two parameters are enough to make confidences honest; they are fitted by maximum likelihood on
cross-validation folds where some phrasings are held out (in scope) and some entries are held out whole
(out of scope), so the "no entry" mass learns what an uncovered question looks like.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

NONE = -1  # label of a held-out question that no remaining entry covers


@dataclass(frozen=True)
class Calibration:
    """Scale of the scores and the logit of "no entry"."""

    scale: float
    none_logit: float

    def probabilities(self, scores: np.ndarray) -> np.ndarray:
        """Probability of each entry (the rest of the mass is "no entry")."""
        logits = self.scale * scores
        top = max(float(logits.max(initial=-np.inf)), self.none_logit)
        weights = np.exp(logits - top)
        return weights / (weights.sum() + np.exp(self.none_logit - top))


@dataclass(frozen=True)
class HeldOut:
    """Raw scores of one held-out question over the entries of its fold, and the right index or NONE."""

    scores: np.ndarray
    label: int


def fit_calibration(samples: Sequence[HeldOut], fallback: Calibration, top_k: int = 32) -> Calibration:
    """Maximum-likelihood (scale, none_logit) by Newton's method; the problem is convex in both."""
    usable = [s for s in samples if s.scores.size]
    if len(usable) < 8 or all(s.label == NONE for s in usable) or all(s.label != NONE for s in usable):
        return fallback
    # Only the top scores matter for a softmax with a large scale, and keeping k fixed makes it a matrix.
    width = min(top_k, max(s.scores.size for s in usable))
    rows = np.full((len(usable), width), -np.inf)
    target = np.zeros(len(usable))  # score of the right entry, 0 where the right answer is "none"
    is_none = np.zeros(len(usable), dtype=bool)
    for i, sample in enumerate(usable):
        top = np.sort(sample.scores)[::-1][:width]
        rows[i, : top.size] = top
        if sample.label == NONE:
            is_none[i] = True
        else:
            right_score = float(sample.scores[sample.label])
            target[i] = right_score
            if right_score < top[-1]:  # keep the right entry in the softmax even when it ranks below top-k
                rows[i, -1] = right_score
    valid = np.isfinite(rows)
    scores = np.where(valid, rows, 0.0)
    right = np.where(is_none, 0.0, target)
    ridge = 1e-4 * len(usable)  # keeps the scale finite when the folds separate perfectly

    def objective(a: float, b: float) -> tuple[float, np.ndarray, np.ndarray]:
        logits = np.where(valid, a * scores, -np.inf)
        top = np.maximum(logits.max(axis=1), b)
        pw = np.exp(logits - top[:, None])
        pn = np.exp(b - top)
        z = pw.sum(axis=1) + pn
        nll = float((np.log(z) + top - np.where(is_none, b, a * right)).sum()) + 0.5 * ridge * a * a
        pw, pn = pw / z[:, None], pn / z
        # Features are (score, 0) for an entry and (0, 1) for "none".
        e_s = (pw * scores).sum(axis=1)
        e_s2 = (pw * scores**2).sum(axis=1)
        grad = np.array([(e_s - right).sum() + ridge * a, (pn - is_none).sum()])
        h_ab = (-e_s * pn).sum()
        hess = np.array([[(e_s2 - e_s**2).sum() + ridge, h_ab], [h_ab, (pn * (1 - pn)).sum()]])
        return nll, grad, hess

    a, b = fallback.scale, fallback.none_logit
    value, grad, hess = objective(a, b)
    for _ in range(100):
        step = np.linalg.solve(hess + 1e-6 * np.eye(2), grad)
        t = 1.0
        while t > 1e-6:  # backtracking keeps Newton from overshooting on flat stretches
            a_new, b_new = a - t * step[0], b - t * step[1]
            if a_new > 0:
                new_value, new_grad, new_hess = objective(a_new, b_new)
                if new_value <= value - 1e-4 * t * float(grad @ step):
                    break
            t /= 2
        else:
            break
        done = value - new_value < 1e-9 * max(1.0, abs(value))
        a, b, value, grad, hess = a_new, b_new, new_value, new_grad, new_hess
        if done:
            break
    if not (np.isfinite(a) and np.isfinite(b)):
        return fallback
    return Calibration(scale=float(a), none_logit=float(b))


@dataclass(frozen=True)
class Fold:
    """Indices of training texts, held-out in-scope texts and held-out out-of-scope texts for one fold."""

    train: np.ndarray
    held_in: np.ndarray
    held_out_of_scope: np.ndarray


def make_folds(
    labels: Sequence[int],
    n_folds: int = 5,
    seed: int = 0,
    max_per_fold: int = 120,
    out_of_scope_share: float = 0.2,
) -> list[Fold]:
    """Folds that hold out a share of each entry's phrasings and, in turn, whole entries.

    Every entry keeps at least one phrasing for training in folds where it stays in scope.
    """
    rng = np.random.default_rng(seed)
    labels_arr = np.asarray(labels)
    n_entries = int(labels_arr.max()) + 1 if labels_arr.size else 0
    entry_group = rng.permutation(n_entries) % n_folds if n_entries >= 3 else np.full(n_entries, -1)
    text_fold = np.full(labels_arr.size, -1)
    for entry in range(n_entries):
        members = np.flatnonzero(labels_arr == entry)
        if members.size >= 2:
            order = rng.permutation(members.size)
            # Offset per entry so that the folds do not all hold out the first phrasing.
            text_fold[members] = (order + rng.integers(n_folds)) % n_folds
            if np.all(text_fold[members] == text_fold[members[0]]):
                text_fold[members[0]] = (text_fold[members[0]] + 1) % n_folds
    folds = []
    for k in range(n_folds):
        out_entry = entry_group[labels_arr] == k if n_entries else np.zeros(0, dtype=bool)
        held = (text_fold == k) & ~out_entry
        train = ~held & ~out_entry
        held_in = np.flatnonzero(held)
        held_oos = np.flatnonzero(out_entry)
        # A fixed share of out-of-scope questions, so small content is not judged mostly on them.
        budget_in = min(held_in.size, round(max_per_fold * (1 - out_of_scope_share)))
        wanted_oos = round(budget_in * out_of_scope_share / (1 - out_of_scope_share))
        budget_oos = min(held_oos.size, wanted_oos)
        folds.append(
            Fold(
                train=np.flatnonzero(train),
                held_in=np.sort(rng.choice(held_in, budget_in, replace=False)),
                held_out_of_scope=np.sort(rng.choice(held_oos, budget_oos, replace=False)),
            )
        )
    return [f for f in folds if f.train.size and (f.held_in.size or f.held_out_of_scope.size)]


ScoreFn = Callable[[np.ndarray, np.ndarray], list[np.ndarray]]


def held_out_samples(labels: Sequence[int], folds: Sequence[Fold], score_fold: ScoreFn) -> list[HeldOut]:
    """Score each fold's held-out texts with a model built on its training texts.

    `score_fold(train_idx, query_idx)` returns one raw score vector per query, over the fold's entries in
    ascending entry order.
    """
    labels_arr = np.asarray(labels)
    samples: list[HeldOut] = []
    for fold in folds:
        fold_entries = np.unique(labels_arr[fold.train])
        position = {int(e): i for i, e in enumerate(fold_entries)}
        queries = np.concatenate([fold.held_in, fold.held_out_of_scope])
        for q, scores in zip(queries, score_fold(fold.train, queries), strict=True):
            label = position.get(int(labels_arr[q]), NONE)
            samples.append(HeldOut(scores=scores, label=label))
    return samples
