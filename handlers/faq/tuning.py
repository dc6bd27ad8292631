"""Opt-in fine-tuning of the semantic matcher's encoder on the FAQ's own phrasings (UPTAKE_FAQ_TUNE=1).

A frozen all-MiniLM-L6-v2 tops out around 0.85 top-1 on BANKING77 10-shot whatever head sits on it (bench/README.md,
"Semantic head features"); pulling phrasings of the same entry together and pushing other entries apart
(supervised contrastive loss, the SetFit idea with in-batch pairs, which needs far fewer steps than SetFit's
pair regression) is what lifts it (BANKING77: +0.7 to +1.1 points top-1, +5 points answered; bench/README.md).
The recipe is fixed a priori, never tuned on test queries: learning rate, weight decay, warm-up and temperature
are SetFit's defaults, and the step count is SetFit's budget of 20 pairings per phrasing (each phrasing an anchor
~20 times), capped for cost.

Tuning costs minutes of CPU, so it never runs on the request path: `Tuner` runs it once per (content, base
model, recipe) in a `nice` child process, writes the tuned model directory atomically under the ONNX cache
(`<cache>/tuned/<key>`), exports it to ONNX there too, and reports back; the bot serves the frozen model until
then and rebuilds its index (matcher *and* thresholds) on the tuned model afterwards.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from handlers.faq.onnx_encoder import cache_dir, model_key

log = logging.getLogger("uptake.faq")

RECIPE: dict[str, Any] = {
    "loss": "supcon",
    "anchor_passes": 20,  # steps = anchor_passes x phrasings / batch size, at most max_steps
    "max_steps": 100,  # cost cap, ~4 CPU minutes on one core (2.5 s per step of 64 phrasings)
    "steps": None,  # a fixed count instead (tests)
    "entries_per_batch": 16,
    "phrasings_per_entry": 4,
    "lr": 2e-5,
    "weight_decay": 0.01,
    "temperature": 0.07,
    "warmup": 0.1,
    "version": 1,
}
MARKER = "uptake-tuned.json"  # written last: a directory without it is not a finished model
KEEP_TUNED = 3  # finished tuned models kept on disk (~90 MB each); older content versions are pruned


def tuned_key(model_path: str, texts: Sequence[str], labels: Sequence[int], recipe: dict[str, Any] = RECIPE) -> str:
    """Changes with the base model's files, any phrasing or its entry, and the recipe."""
    digest = hashlib.sha256(model_key(model_path, 0).encode())
    digest.update(json.dumps(recipe, sort_keys=True).encode())
    for text, label in zip(texts, labels, strict=True):
        digest.update(f"{label}\t{text}\n".encode())
    return digest.hexdigest()[:24]


def tuned_dir(key: str) -> Path:
    return cache_dir() / "tuned" / key


def tuned_model(key: str) -> str | None:
    """The finished tuned model directory for this key, if any."""
    path = tuned_dir(key)
    return str(path) if (path / MARKER).is_file() else None


def batches(labels: Sequence[int], per_batch: int, per_entry: int, rng: random.Random) -> list[int]:
    """P entries x K phrasings, so every phrasing in the batch has another of its entry to be pulled to."""
    by_label: dict[int, list[int]] = {}
    for i, y in enumerate(labels):
        by_label.setdefault(y, []).append(i)
    usable = sorted(y for y, members in by_label.items() if len(members) > 1)
    chosen: list[int] = []
    for y in rng.sample(usable, min(per_batch, len(usable))):
        chosen += rng.sample(by_label[y], min(per_entry, len(by_label[y])))
    return chosen


def supcon_loss(embeddings: Any, labels: Any, temperature: float) -> Any:
    """Supervised contrastive loss (Khosla et al. 2020), mean over anchors that have a positive."""
    import torch

    z = torch.nn.functional.normalize(embeddings, dim=-1)
    n = z.shape[0]
    self_mask = torch.eye(n, dtype=torch.bool)
    logits = (z @ z.T / temperature).masked_fill(self_mask, float("-inf"))
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    positive = (labels[:, None] == labels[None, :]) & ~self_mask
    per_anchor = -log_prob.masked_fill(~positive, 0.0).sum(1) / positive.sum(1).clamp(min=1)
    return per_anchor[positive.any(1)].mean()


def step_count(phrasings: int, recipe: dict[str, Any] = RECIPE) -> int:
    """Optimiser steps for this much content (see RECIPE)."""
    if recipe.get("steps"):
        return int(recipe["steps"])
    batch = recipe["entries_per_batch"] * recipe["phrasings_per_entry"]
    return max(1, min(int(recipe["max_steps"]), -(-recipe["anchor_passes"] * phrasings // batch)))


def train(model: Any, texts: Sequence[str], labels: Sequence[int], recipe: dict[str, Any], seed: int = 0) -> None:
    """Fine-tune `model` (a SentenceTransformer) in place."""
    import torch

    torch.manual_seed(seed)
    rng = random.Random(seed)
    steps = step_count(len(texts), recipe)
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe["lr"], weight_decay=recipe["weight_decay"])
    warmup = max(1, int(steps * recipe["warmup"]))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / max(1, steps - warmup)))
    )
    preprocess = getattr(model, "preprocess", None) or model.tokenize  # renamed in sentence-transformers 6
    model.train()
    for _ in range(steps):
        chosen = batches(labels, recipe["entries_per_batch"], recipe["phrasings_per_entry"], rng)
        if not chosen:
            break
        embeddings = model(preprocess([texts[i] for i in chosen]))["sentence_embedding"]
        loss = supcon_loss(embeddings, torch.tensor([labels[i] for i in chosen]), recipe["temperature"])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
    model.eval()


def tune(model_path: str, texts: Sequence[str], labels: Sequence[int], recipe: dict[str, Any] = RECIPE) -> str:
    """Tune a copy of the base model and publish it atomically under its key; returns the directory."""
    import copy

    from handlers.faq.semantic import load_encoder

    key = tuned_key(model_path, texts, labels, recipe)
    done = tuned_model(key)
    if done:
        return done
    model = copy.deepcopy(load_encoder(model_path))
    train(model, texts, labels, recipe)
    target = tuned_dir(key)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=target.parent))
    try:
        model.save(str(staging))
        (staging / MARKER).write_text(json.dumps({"base": model_path, "recipe": recipe}), encoding="utf-8")
        try:
            os.replace(staging, target)
        except OSError:  # another process published the same key first
            if tuned_model(key) is None:
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    prune(keep=KEEP_TUNED, spare=target)
    return str(target)


def prune(keep: int = KEEP_TUNED, spare: Path | None = None) -> list[Path]:
    """Delete all but the `keep` newest finished tuned models (and their ONNX exports), never `spare`.

    Every content version gets its own tuned model, so without this the cache grows by ~90 MB per edit of the FAQ.
    A running bot that still serves a pruned model keeps it in memory; a restart tunes again if needed.
    """
    from handlers.faq.semantic import MAX_SEQ_LENGTH

    root = cache_dir() / "tuned"
    finished = [d for d in root.glob("*") if d.is_dir() and (d / MARKER).is_file()] if root.is_dir() else []
    finished.sort(key=lambda d: (d / MARKER).stat().st_mtime_ns, reverse=True)
    removed = []
    for old in finished[keep:]:
        if spare is not None and old.resolve() == spare.resolve():
            continue
        exported = cache_dir() / f"{model_key(str(old), MAX_SEQ_LENGTH)}.onnx"
        exported.unlink(missing_ok=True)
        shutil.rmtree(old, ignore_errors=True)
        removed.append(old)
    return removed


class Tuner:
    """Runs at most one tuning child process at a time; the latest request wins, finished keys are never redone.

    `on_ready(key)` is called from the tuner's thread when a tuned model is published.
    """

    def __init__(
        self,
        on_ready: Callable[[str], None],
        niceness: int = 10,
        threads: int = 1,
        recipe: dict[str, Any] = RECIPE,
    ) -> None:
        self._on_ready = on_ready
        self._recipe = recipe
        self._niceness = niceness
        self._threads = threads
        self._lock = threading.Lock()
        self._pending: tuple[str, str, list[str], list[int]] | None = None
        self._running: str | None = None
        self._failed: set[str] = set()

    def request(self, model_path: str, texts: Sequence[str], labels: Sequence[int]) -> str | None:
        """The tuned model for this content if it is ready, else None (tuning starts in the background)."""
        key = tuned_key(model_path, texts, labels, self._recipe)
        done = tuned_model(key)
        if done or key in self._failed:
            return done
        with self._lock:
            if self._running != key:
                self._pending = (key, model_path, list(texts), list(labels))
                if self._running is None:
                    self._running = key
                    threading.Thread(target=self._loop, name="faq-tune", daemon=True).start()
        return None

    @property
    def busy(self) -> bool:
        return self._running is not None

    def _loop(self) -> None:
        while True:
            with self._lock:
                job, self._pending = self._pending, None
                if job is None:
                    self._running = None
                    return
                self._running = job[0]
            key, model_path, texts, labels = job
            try:
                run_child(model_path, texts, labels, self._recipe, self._niceness, self._threads)
            except Exception as e:  # a failed tuning leaves the frozen model serving; not retried for this key
                log.warning("faq encoder tuning failed (%s); the frozen model keeps answering", e)
                self._failed.add(key)
                continue
            log.info("faq encoder tuned for content key %s", key)
            self._on_ready(key)


def run_child(
    model_path: str,
    texts: Sequence[str],
    labels: Sequence[int],
    recipe: dict[str, Any] = RECIPE,
    niceness: int = 10,
    threads: int = 1,
) -> None:
    """`python -m handlers.faq.tuning` in a child process: its own torch threads, lower priority, no GIL sharing."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8") as f:
        json.dump({"model": model_path, "texts": list(texts), "labels": list(labels), "recipe": recipe}, f)
        job = f.name
    try:
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "UPTAKE_TUNE_THREADS": str(threads)}
        entry = "import sys; from handlers.faq.tuning import main; sys.exit(main(sys.argv[1:]))"
        cmd = [sys.executable, "-c", entry, job]
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)

        def lower() -> None:
            os.nice(niceness)

        result = subprocess.run(cmd, env=env, capture_output=True, text=True, preexec_fn=lower, check=False)
        if result.returncode != 0:
            raise RuntimeError(result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "no output")
    finally:
        os.unlink(job)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Tune the FAQ encoder on a job file (used by Tuner).")
    parser.add_argument("job", type=Path)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(int(os.environ.get("UPTAKE_TUNE_THREADS", "1")))
    job = json.loads(args.job.read_text(encoding="utf-8"))
    path = tune(job["model"], job["texts"], job["labels"], job.get("recipe", RECIPE))
    from handlers.faq.onnx_encoder import onnx_enabled

    if onnx_enabled():  # export here, so the bot's rebuild only loads the cached graph
        from handlers.faq.semantic import load_runtime

        load_runtime(path)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
