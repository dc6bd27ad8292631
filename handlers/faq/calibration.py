"""Turn raw similarity scores into calibrated probabilities, fitted on held-out phrasings of the content.

The model is a softmax over the entries plus one "no entry" option: logit_j = a * score_j, logit_none = b.
Two parameters are enough to make confidences honest; they are fitted by maximum likelihood on
cross-validation folds where some phrasings are held out (in scope) and some entries are held out whole
(out of scope), so the "no entry" mass learns what an uncovered question looks like. Generic off-topic
sentences (GENERIC_OUT_OF_SCOPE) are asked too, so small content still sees what "nothing to do with us" is.

The confidence of the best match is then a second, small logistic model of "the best match is right" over the
softmax probability, the margin to the runner-up and the raw score: a clear winner is trusted more than one of
two look-alikes with the same probability.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

NONE = -1  # label of a held-out question that no remaining entry covers


# Questions no rollout FAQ covers, asked of every content during calibration and threshold selection. Any
# that the content does cover (an FAQ about travel) is dropped by `drop_covered_generic`.
GENERIC_OUT_OF_SCOPE: tuple[str, ...] = (
    "will it rain this weekend",
    "what is the temperature outside",
    "give me a recipe for lasagna",
    "how long do I boil an egg",
    "what should I cook for dinner tonight",
    "find me a cheap hotel in Rome",
    "when does the next train to Paris leave",
    "how do I renew my passport",
    "who won the football match yesterday",
    "what time does the supermarket close",
    "tell me a joke",
    "what is the meaning of life",
    "how tall is the Eiffel tower",
    "who wrote Pride and Prejudice",
    "what is the square root of 144",
    "convert 10 miles to kilometres",
    "translate good morning into Spanish",
    "play some relaxing music",
    "set an alarm for 7 am",
    "remind me to call my mother",
    "what's a good movie to watch",
    "recommend a book for the holidays",
    "how do I get a stain out of a shirt",
    "my car makes a strange noise",
    "how often should I water a cactus",
    "what is the best diet to lose weight",
    "how do I train my puppy",
    "what is the exchange rate of the dollar",
    "should I buy bitcoin",
    "how do I fix a leaking tap",
    "what's the population of Canada",
    "how many days until Christmas",
    "where can I park near the stadium",
    "what are the symptoms of the flu",
    "is the pharmacy open on Sunday",
    "how do I knit a scarf",
    "order me a pizza",
    "what's the capital of Australia",
    "how far is the moon",
    "sing me a song",
    "can you do my taxes",
    "what is the best smartphone to buy",
    "how do I change a flat tyre",
    "who is the president of Brazil",
    "what should I name my cat",
    "what's on TV tonight",
    "how do I make sourdough starter",
    "are dolphins mammals",
    "what's your favourite colour",
    "rent a car at the airport",
    "how do you say thank you in Japanese",
    "what is photosynthesis",
    "plan a birthday party for my kid",
    "how do I grow tomatoes",
    "what is the speed of light",
    "can you recommend a dentist",
    "is it going to snow in December",
    "what's the score of the tennis final",
    "how many calories are in a banana",
    "when was the Roman empire founded",
)


@dataclass(frozen=True)
class Calibration:
    """Scale of the scores, the logit of "no entry", and the weights of the best-match correctness model."""

    scale: float
    none_logit: float
    correctness: tuple[float, ...] = ()  # weights over correctness_features(); empty = trust the softmax

    def confidences(self, scores: np.ndarray) -> np.ndarray:
        """Probabilities whose best one is replaced by P(best match is right); order and shares are kept."""
        probabilities = self.probabilities(scores)
        if not self.correctness or probabilities.size == 0:
            return probabilities
        best = int(np.argmax(probabilities))
        features = correctness_features(probabilities[None, :], scores[None, :])[0]
        top = float(1.0 / (1.0 + np.exp(-float(np.dot(self.correctness, features)))))
        ratio = top / max(float(probabilities[best]), 1e-12)
        rest = float(probabilities.sum() - probabilities[best])
        if rest > 0:
            ratio = min(ratio, (1.0 - top) / rest)  # stays a distribution over entries + "none"
        out = probabilities * ratio
        out[best] = top
        return out

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
    generic: bool = False  # one of GENERIC_OUT_OF_SCOPE rather than a held-out entry


def correctness_features(probabilities: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Per row: logit of the best probability, margin to the runner-up (probability and raw), raw best, 1."""
    n = probabilities.shape[0]
    if probabilities.shape[1] >= 2:
        p_top = -np.partition(-probabilities, 1, axis=1)[:, :2]
        s_top = -np.partition(-scores, 1, axis=1)[:, :2]
    else:
        p_top = np.hstack([probabilities, np.zeros((n, 1))])
        s_top = np.hstack([scores, np.zeros((n, 1))])
    p1 = np.clip(p_top[:, 0], 1e-6, 1 - 1e-6)
    return np.column_stack(
        [np.log(p1 / (1 - p1)), p_top[:, 0] - p_top[:, 1], s_top[:, 0], s_top[:, 0] - s_top[:, 1], np.ones(n)]
    )


def fit_correctness(samples: Sequence[HeldOut], calibration: Calibration, ridge: float = 1.0) -> Calibration:
    """Logistic regression of "the best match is right" on correctness_features, by Newton's method."""
    usable = [s for s in samples if s.scores.size]
    right = np.array([s.label != NONE and int(np.argmax(s.scores)) == s.label for s in usable], dtype=float)
    if len(usable) < 20 or right.sum() < 5 or (1 - right).sum() < 5:
        return calibration
    width = max(s.scores.size for s in usable)
    scores = np.zeros((len(usable), width))
    probabilities = np.zeros((len(usable), width))
    for i, sample in enumerate(usable):
        scores[i, : sample.scores.size] = sample.scores
        probabilities[i, : sample.scores.size] = calibration.probabilities(sample.scores)
    x = correctness_features(probabilities, scores)
    # Start from "trust the softmax" (weight 1 on its logit) and shrink towards it, not towards zero.
    prior = np.zeros(x.shape[1])
    prior[0] = 1.0
    w = prior.copy()
    penalty = ridge * np.ones(x.shape[1])
    penalty[-1] = 1e-3  # the bias is free
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-(x @ w)))
        grad = x.T @ (p - right) + penalty * (w - prior)
        hess = (x * (p * (1 - p))[:, None]).T @ x + np.diag(penalty)
        step = np.linalg.solve(hess, grad)
        w -= step
        if float(np.abs(step).max()) < 1e-8:
            break
    if not np.all(np.isfinite(w)):
        return calibration
    return Calibration(calibration.scale, calibration.none_logit, tuple(float(v) for v in w))


def drop_covered_generic(samples: Sequence[HeldOut]) -> list[HeldOut]:
    """Drop generic off-topic questions that score like a typical right answer: this content covers them."""
    right_tops = [float(s.scores.max()) for s in samples if not s.generic and _is_right(s)]
    if not right_tops:
        return list(samples)
    bar = float(np.median(right_tops))
    return [s for s in samples if not s.generic or float(s.scores.max(initial=0.0)) < bar]


def _is_right(sample: HeldOut) -> bool:
    return sample.label != NONE and sample.scores.size > 0 and int(np.argmax(sample.scores)) == sample.label


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


def held_out_samples(
    labels: Sequence[int], folds: Sequence[Fold], score_fold: ScoreFn, generic: np.ndarray | None = None
) -> list[HeldOut]:
    """Score each fold's held-out texts with a model built on its training texts.

    `score_fold(train_idx, query_idx)` returns one raw score vector per query, over the fold's entries in
    ascending entry order. `generic` are indices of GENERIC_OUT_OF_SCOPE texts (label NONE), spread over
    the folds; the ones this content covers are dropped.
    """
    labels_arr = np.asarray(labels)
    generic = np.zeros(0, np.int64) if generic is None else generic
    samples: list[HeldOut] = []
    for k, fold in enumerate(folds):
        fold_entries = np.unique(labels_arr[fold.train])
        position = {int(e): i for i, e in enumerate(fold_entries)}
        extra = generic[k :: len(folds)]
        queries = np.concatenate([fold.held_in, fold.held_out_of_scope, extra]).astype(np.int64)
        n_own = queries.size - extra.size
        for i, (q, scores) in enumerate(zip(queries, score_fold(fold.train, queries), strict=True)):
            label = position.get(int(labels_arr[q]), NONE)
            samples.append(HeldOut(scores=scores, label=label, generic=i >= n_own))
    return drop_covered_generic(samples)
