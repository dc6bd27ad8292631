"""Prototype: SetFit-style contrastive fine-tuning of the semantic matcher's encoder on the FAQ phrasings.

Measures BANKING77 10-shot top-1 (shots and held-out queries built as bench/faq_bench.py does) against the number
of optimiser steps, and the CPU seconds the tuning costs. Hyper-parameters are fixed a priori, never tuned on the
test queries: `--loss setfit` is the SetFit paper's default (CosineSimilarityLoss on positive/negative pairs, 20
pair iterations per phrasing, batch 16, lr 2e-5, 1 epoch, 10 % linear warm-up); `--loss supcon` is the shipped
recipe's loss (handlers/faq/tuning.py: 16 entries x 4 phrasings per batch, temperature 0.07, same lr/warm-up).

    nice -n 10 python bench/faq_finetune.py [--seeds 0 1 2] [--threads 2] [--checkpoints 0 250 500 1000]
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import resource
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.faq_bench import REPO, build_files
from handlers.faq.evaluation import load_questions
from handlers.faq.loader import load_faq_file
from handlers.faq.model import training_texts
from handlers.faq.semantic import SemanticMatcher, load_encoder
from handlers.faq.tuning import batches, supcon_loss


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def setfit_pairs(labels: list[int], iterations: int, rng: random.Random) -> list[tuple[int, int, float]]:
    """SetFit's pair generation: per iteration and phrasing, one positive and one negative partner."""
    by_label: dict[int, list[int]] = {}
    for i, y in enumerate(labels):
        by_label.setdefault(y, []).append(i)
    others = list(range(len(labels)))
    pairs = []
    for _ in range(iterations):
        for i, y in enumerate(labels):
            pairs.append((i, rng.choice(by_label[y]), 1.0))
            j = rng.choice(others)
            while labels[j] == y:
                j = rng.choice(others)
            pairs.append((i, j, 0.0))
    rng.shuffle(pairs)
    return pairs


def encode(model, texts: list[str]) -> np.ndarray:
    model.eval()
    vectors = model.encode(texts, batch_size=128, normalize_embeddings=True, convert_to_numpy=True)
    return np.asarray(vectors, dtype=np.float32)


def top1(model, texts: list[str], labels: list[int], queries: list[str], expected: np.ndarray) -> float:
    """The shipped semantic score (centroid + ½ nearest + ½ LR head) on vectors of this encoder."""
    cache = dict(zip(texts + queries, np.vstack([encode(model, texts), encode(model, queries)]), strict=False))
    matcher = SemanticMatcher(cache=cache)
    matcher._prepare(texts, labels)
    matcher._build_final(np.arange(len(texts)))
    q = np.stack([cache[t] for t in queries])
    scores = np.vstack([SemanticMatcher._scores(matcher._final, q[s : s + 2048]) for s in range(0, len(q), 2048)])
    return float((scores.argmax(axis=1) == expected).mean())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REPO / ".." / "shared" / "benchmarks" / "faq")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "faq")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-5)
    parser.add_argument("--loss", choices=["setfit", "supcon"], default="setfit")
    parser.add_argument("--classes", type=int, default=16, help="supcon: entries per batch (x 4 phrasings)")
    parser.add_argument("--temperature", type=float, default=0.07)
    parser.add_argument("--steps", type=int, default=0, help="supcon: total schedule length")
    parser.add_argument("--checkpoints", type=int, nargs="+", default=[0, 250, 500, 1000])
    parser.add_argument("--cv", action="store_true", help="ignore the test queries: hold out 2 phrasings per entry")
    parser.add_argument("--max-queries", type=int, default=0, help="evaluate on a fixed random subset (0 = all)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    base = load_encoder()
    for seed in args.seeds:
        faq_path, questions_path = build_files("banking77", args.data, seed, args.out)
        entries = load_faq_file(faq_path)
        ids = [e.id for e in entries]
        texts, labels = training_texts(entries, {})
        questions = load_questions(questions_path)
        if args.max_queries:
            questions = random.Random(99).sample(questions, args.max_queries)
        queries = [q.text for q in questions]
        expected = np.array([ids.index(q.expected) for q in questions])
        if args.cv:  # model selection on the FAQ file only: the last 2 phrasings of each entry are the queries
            held = {i for i in range(len(texts)) if i + 2 >= len(labels) or labels[i + 2] != labels[i]}
            queries = [texts[i] for i in sorted(held)]
            expected = np.array([labels[i] for i in sorted(held)])
            keep = [i for i in range(len(texts)) if i not in held]
            texts, labels = [texts[i] for i in keep], [labels[i] for i in keep]
        torch.manual_seed(seed)
        model = copy.deepcopy(base)
        rng = random.Random(seed)
        pairs = setfit_pairs(labels, args.iterations, rng)
        total = len(pairs) // args.batch if args.loss == "setfit" else args.steps
        optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
        warmup = max(1, total // 10)
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s, w=warmup, t=total: min((s + 1) / w, max(0.0, (t - s) / max(1, t - w)))
        )
        train_cpu = 0.0
        step = 0
        for checkpoint in sorted(set(args.checkpoints)):
            checkpoint = min(checkpoint, total)
            model.train()
            started = cpu_s()
            while step < checkpoint:
                if args.loss == "setfit":
                    batch = pairs[step * args.batch : (step + 1) * args.batch]
                    a = model(model.preprocess([texts[i] for i, _, _ in batch]))["sentence_embedding"]
                    b = model(model.preprocess([texts[j] for _, j, _ in batch]))["sentence_embedding"]
                    target = torch.tensor([y for _, _, y in batch])
                    loss = torch.nn.functional.mse_loss(torch.nn.functional.cosine_similarity(a, b), target)
                else:
                    chosen = batches(labels, args.classes, 4, rng)
                    emb = model(model.preprocess([texts[i] for i in chosen]))["sentence_embedding"]
                    loss = supcon_loss(emb, torch.tensor([labels[i] for i in chosen]), args.temperature)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                schedule.step()
                optimizer.zero_grad()
                step += 1
            train_cpu += cpu_s() - started
            started = cpu_s()
            accuracy = top1(model, texts, labels, queries, expected)
            row = {
                "seed": seed,
                "step": step,
                "of": total,
                "top1": round(accuracy, 4),
                "train_cpu_s": round(train_cpu, 1),
                "eval_cpu_s": round(cpu_s() - started, 1),
                "n": len(queries),
            }
            print(json.dumps(row), flush=True)
            if step >= total:
                break
    return 0


if __name__ == "__main__":
    sys.exit(main())
