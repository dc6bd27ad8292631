"""Fast top-1 harness for the FAQ score mix: per-component raw scores cached once, mixes tried in seconds.

Top-1 only needs the final index (calibration is monotone in the raw score), so this computes, per FAQ file and
encoder, the four raw components of the shipped matchers on (a) the FAQ's own 5-fold cross-validation (each
entry's phrasings split over 5 folds, one fold held out at a time, every entry stays in scope) and (b) the
benchmark's held-out test queries (final index on all phrasings):

    s_sim    semantic (centroid cosine + ½ nearest) / 1.5        s_head  the semantic LR head's probability
    l_ngram  lexical n-gram (centroid + ½ nearest) / 1.5         l_dense whitened static vectors, same form
    (+ optional extra heads, e.g. a joint LR head over [embedding, whitened static vector])

Embeddings are cached on disk per encoder (each text encoded once per encoder). Settings are to be chosen on the
CV columns (BANKING77, CLINC150 and the starter pack's phrasings), never on the test columns.

    python bench/faq_mix.py [--seeds 0 1 2] [--tuned banking77:0=DIR ...] [--cache DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import pickle
import statistics
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.faq_bench import REPO, build_files
from handlers.faq.evaluation import load_questions
from handlers.faq.lexical import LexicalMatcher, _gather_rows, _project, dense_score, ngram_score
from handlers.faq.loader import load_faq_dir, load_faq_file
from handlers.faq.model import training_texts
from handlers.faq.scoring import softmax_rows, train_softmax
from handlers.faq.semantic import HEAD_L2, NEAREST_WEIGHT, SemanticMatcher

DATA = REPO / ".." / "shared" / "benchmarks" / "faq"
OUT = REPO / "bench" / "results" / "faq"
FROZEN = "frozen"


class EmbeddingCache:
    """text -> unit vector per encoder, pickled under `root/<encoder-hash>.pkl`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def vectors(self, model: str | None, texts: Sequence[str]) -> np.ndarray:
        name = hashlib.sha256((model or FROZEN).encode()).hexdigest()[:16]
        path = self.root / f"{name}.pkl"
        store: dict[str, np.ndarray] = pickle.loads(path.read_bytes()) if path.exists() else {}
        missing = [t for t in dict.fromkeys(texts) if t not in store]
        if missing:
            import torch

            from handlers.faq.semantic import load_encoder

            torch.set_num_threads(1)
            print(f"# encoding {len(missing)} texts with {model or FROZEN}", file=sys.stderr, flush=True)
            encoded = load_encoder(model).encode(missing, batch_size=128, normalize_embeddings=True)
            store.update(zip(missing, np.asarray(encoded, np.float32), strict=True))
            path.write_bytes(pickle.dumps(store))
        return np.stack([store[t] for t in texts])


def cv_folds(labels: np.ndarray, n_folds: int = 5, seed: int = 0) -> list[np.ndarray]:
    """Boolean held-out masks: each entry's phrasings spread over the folds, at least one always trains."""
    rng = np.random.default_rng(seed)
    fold = np.full(labels.size, -1)
    for entry in np.unique(labels):
        members = np.flatnonzero(labels == entry)
        if members.size < 2:
            continue
        fold[members[rng.permutation(members.size)]] = (np.arange(members.size) + entry) % n_folds
    return [fold == k for k in range(n_folds)]


def semantic_parts(vectors: np.ndarray, labels: np.ndarray, train: np.ndarray, queries: np.ndarray) -> dict:
    """s_sim and s_head exactly as SemanticMatcher computes them (train = indices, grouped by entry)."""
    matcher = SemanticMatcher.__new__(SemanticMatcher)
    matcher._vectors, matcher._labels, matcher._use_head = vectors, labels, True
    index = matcher._index(train)
    q = vectors[queries]
    nearest = np.maximum.reduceat(q @ index.vectors.T, index.starts, axis=1)
    sim = (q @ index.centroids.T + NEAREST_WEIGHT * nearest) / (1.0 + NEAREST_WEIGHT)
    head = softmax_rows(((q - index.mean) / index.spread) @ index.head[:-1] + index.head[-1])
    return {"s_sim": sim, "s_head": head}


def lexical_parts(lexical: LexicalMatcher, train: np.ndarray, queries: np.ndarray) -> tuple[dict, np.ndarray]:
    """l_ngram and l_dense as LexicalMatcher._scores computes them (before its word-alignment bonus, which this
    harness does not model), plus the whitened static query vectors."""
    index = lexical._build(train)
    rows, feats, tfs = _gather_rows(lexical._row_ptr, lexical._feats, lexical._tfs, queries)
    ptr = np.searchsorted(rows, np.arange(queries.size + 1))
    assert lexical._dense is not None and index.dense_phrasings is not None
    dense = _project(lexical._dense[queries], index.dense_mean, index.dense_whiten)
    parts = {"l_ngram": ngram_score(index, ptr, feats, tfs), "l_dense": dense_score(index, lexical._dense[queries])}
    return parts, (index.dense_phrasings.T, dense)


def joint_head(
    emb_train: np.ndarray, emb_q: np.ndarray, lex_train: np.ndarray, lex_q: np.ndarray, y: np.ndarray, alpha: float
) -> np.ndarray:
    """LR head over [standardised embedding, alpha x standardised whitened static vector]."""
    m1, s1 = emb_train.mean(0), float(emb_train.std(0).mean()) or 1.0
    m2, s2 = lex_train.mean(0), float(lex_train.std(0).mean()) or 1.0
    xt = np.hstack([(emb_train - m1) / s1, alpha * (lex_train - m2) / s2])
    xq = np.hstack([(emb_q - m1) / s1, alpha * (lex_q - m2) / s2])
    _, local = np.unique(y, return_inverse=True)
    w = train_softmax(xt.astype(np.float32), local, int(local.max()) + 1, l2=HEAD_L2)
    return softmax_rows(xq @ w[:-1] + w[-1])


def parts_for(
    texts: list[str],
    labels: list[int],
    tests: list[str],
    test_labels: list[int],
    vectors: np.ndarray,
    alphas=(0.5, 1.0),
) -> dict:
    """Components for the CV folds (concatenated) and the test queries."""
    y = np.asarray(labels)
    n = len(texts)
    lexical = LexicalMatcher()
    lexical._prepare([*texts, *tests], [*labels, *([-1] * len(tests))])
    vec = vectors
    out = {}
    # CV
    cv: dict[str, list] = {}
    cv_y, cv_fold = [], []
    for fold, held in enumerate(cv_folds(y)):
        train, queries = np.flatnonzero(~held), np.flatnonzero(held)
        parts = semantic_parts(vec, np.concatenate([y, -np.ones(len(tests), int)]), train, queries)
        lex, (ltrain, lq) = lexical_parts(lexical, train, queries)
        parts.update(lex)
        for a in alphas:
            parts[f"j_head{a}"] = joint_head(vec[train], vec[queries], ltrain, lq, y[train], a)
        for k, v in parts.items():
            cv.setdefault(k, []).append(v)
        cv_y.append(y[queries])
        cv_fold.append(np.full(queries.size, fold))
    out["cv"] = ({k: np.vstack(v) for k, v in cv.items()}, np.concatenate(cv_y))
    out["cv_fold"] = np.concatenate(cv_fold)
    if tests:
        train, queries = np.arange(n), np.arange(n, n + len(tests))
        parts = semantic_parts(vec, np.concatenate([y, -np.ones(len(tests), int)]), train, queries)
        lex, (ltrain, lq) = lexical_parts(lexical, train, queries)
        parts.update(lex)
        for a in alphas:
            parts[f"j_head{a}"] = joint_head(vec[train], vec[queries], ltrain, lq, y, a)
        out["test"] = (parts, np.asarray(test_labels))
    return out


def load_set(name: str, seed: int) -> tuple[list[str], list[int], list[str], list[int]]:
    """FAQ phrasings and labelled in-scope test queries (none for the starter pack)."""
    if name == "starter":
        entries = load_faq_dir(REPO / "content" / "faq")
        texts, labels = training_texts(entries, {})
        return texts, labels, [], []
    faq, questions = build_files(name, DATA, seed, OUT)
    entries = load_faq_file(faq)
    texts, labels = training_texts(entries, {})
    ids = {e.id: i for i, e in enumerate(entries)}
    qs = [q for q in load_questions(questions) if q.expected is not None]
    return texts, labels, [q.text for q in qs], [ids[q.expected] for q in qs]


MixFn = Callable[[dict], np.ndarray]


def top1(parts: dict, y: np.ndarray, mix: MixFn) -> float:
    return float((mix(parts).argmax(1) == y).mean())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--sets", nargs="+", default=["banking77", "clinc150", "starter"])
    parser.add_argument("--tuned", nargs="*", default=[], help="SET:SEED=MODEL_DIR (tuned encoder for that file)")
    parser.add_argument("--cache", type=Path, default=OUT / "emb")
    parser.add_argument("--parts", type=Path, default=OUT / "parts")
    args = parser.parse_args()
    cache = EmbeddingCache(args.cache)
    args.parts.mkdir(parents=True, exist_ok=True)
    tuned = dict(t.split("=", 1) for t in args.tuned)
    runs = []
    for name in args.sets:
        for seed in [0] if name == "starter" else args.seeds:
            for model in [None, tuned.get(f"{name}:{seed}")]:
                if model is None and runs and runs[-1][:3] == (name, seed, FROZEN):
                    continue
                tag = FROZEN if model is None else "tuned"
                path = args.parts / f"{name}-{seed}-{hashlib.sha256((model or FROZEN).encode()).hexdigest()[:12]}.pkl"
                if path.exists():
                    parts = pickle.loads(path.read_bytes())
                    if parts["cv_fold"].dtype.kind != "i":  # written before a loop-variable fix
                        folds = cv_folds(np.asarray(load_set(name, seed)[1]))
                        parts["cv_fold"] = np.concatenate([np.full(int(h.sum()), i) for i, h in enumerate(folds)])
                else:
                    texts, labels, tests, test_labels = load_set(name, seed)
                    vectors = cache.vectors(model, [*texts, *tests])
                    parts = parts_for(texts, labels, tests, test_labels, vectors)
                    path.write_bytes(pickle.dumps(parts))
                runs.append((name, seed, tag, parts))
                if model is None and f"{name}:{seed}" not in tuned:
                    break
    report(runs)
    return 0


def mixes() -> dict[str, MixFn]:
    """Named mixes: the shipped ones, then the candidates."""
    sem = lambda p: 1.5 * p["s_sim"] + 0.5 * p["s_head"]  # noqa: E731  (/2 dropped: argmax only)
    lex = lambda p: (p["l_ngram"] + 2 * p["l_dense"]) / 3  # noqa: E731
    out: dict[str, MixFn] = {
        "semantic": sem,
        "lexical": lex,
        "hybrid_old(0.6,ngram)": lambda p: 0.6 * sem(p) / 2 + 0.4 * p["l_ngram"],
    }
    for w in (0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
        out[f"hybrid(w={w})"] = lambda p, w=w: w * sem(p) / 2 + (1 - w) * lex(p)
    for a in (0.5, 1.0):
        out[f"sem joint-head{a}"] = lambda p, a=a: 1.5 * p["s_sim"] + 0.5 * p[f"j_head{a}"]
        for w in (0.6, 0.8):
            out[f"hybrid(w={w}) joint-head{a}"] = lambda p, a=a, w=w: (
                w * (1.5 * p["s_sim"] + 0.5 * p[f"j_head{a}"]) / 2 + (1 - w) * lex(p)
            )
    return out


def grid() -> dict[str, MixFn]:
    """Free weights over the four components (s_sim fixed at 1)."""
    out: dict[str, MixFn] = {}
    for h, g, d in itertools.product((0.33, 0.67, 1.0), (0.0, 0.1, 0.2, 0.4), (0.0, 0.2, 0.4, 0.8)):
        out[f"grid h={h} g={g} d={d}"] = lambda p, h=h, g=g, d=d: (
            p["s_sim"] + h * p["s_head"] + g * p["l_ngram"] + d * p["l_dense"]
        )
    return out


def stacked(parts: dict) -> tuple[float, float | None]:
    """Grid weights chosen per FAQ file: nested over the CV folds for the CV figure, all folds for the test."""
    candidates = list(grid().values())
    cv_parts, y = parts["cv"]
    fold = parts["cv_fold"]
    hits = np.stack([mix(cv_parts).argmax(1) == y for mix in candidates])  # mixes x queries
    correct = 0
    for k in np.unique(fold):
        best = int(np.argmax(hits[:, fold != k].mean(1)))
        correct += int(hits[best, fold == k].sum())
    test = None
    if "test" in parts:
        best = int(np.argmax(hits.mean(1)))
        test = top1(*parts["test"], candidates[best])
    return correct / y.size, test


def report(runs: list) -> None:
    """One line per mix: median top-1 over seeds per (set, encoder, cv|test), per-seed values in the JSON dump."""
    table: dict[str, dict[tuple, float]] = {}
    for name, seed, tag, parts in runs:
        for mix_name, mix in {**mixes(), **grid()}.items():
            row = table.setdefault(mix_name, {})
            row[(name, tag, "cv", seed)] = top1(*parts["cv"], mix)
            if "test" in parts:
                row[(name, tag, "test", seed)] = top1(*parts["test"], mix)
        stacked_cv, stacked_test = stacked(parts)
        row = table.setdefault("stacked (grid chosen per FAQ on its CV)", {})
        row[(name, tag, "cv", seed)] = stacked_cv
        if stacked_test is not None:
            row[(name, tag, "test", seed)] = stacked_test
    columns = sorted({k[:3] for row in table.values() for k in row})
    dump = {}
    print("mix\t" + "\t".join("/".join(c) for c in columns))
    for mix_name, row in table.items():
        cells = []
        for col in columns:
            vals = [v for k, v in sorted(row.items()) if k[:3] == col]
            dump.setdefault(mix_name, {})["/".join(col)] = vals
            cells.append(f"{statistics.median(vals):.4f}" if vals else "-")
        print(f"{mix_name}\t" + "\t".join(cells))
    (OUT / "mix.json").write_text(json.dumps(dump, indent=1))


if __name__ == "__main__":
    sys.exit(main())
