"""Session 5 (sem5): tune the encoder for BANKING77 / CLINC150 seeds through the shipped child-process path."""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.faq_bench import REPO, build_files
from handlers.faq.loader import load_faq_file
from handlers.faq.model import training_texts
from handlers.faq.semantic import default_model_path
from handlers.faq.tuning import RECIPE, run_child, tuned_key, tuned_model


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", default="banking77")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--max-steps", type=int, default=RECIPE["max_steps"])
    parser.add_argument("--steps", type=int, help="exactly this many steps (anchor_passes would cap 300 at 241)")
    args = parser.parse_args()
    recipe = {**RECIPE, "max_steps": args.max_steps, "steps": args.steps}
    base = default_model_path()
    for seed in args.seeds:
        faq, _ = build_files(
            args.dataset, REPO / ".." / "shared" / "benchmarks" / "faq", seed, REPO / "bench" / "results" / "faq"
        )
        texts, labels = training_texts(load_faq_file(faq), {})
        key = tuned_key(base, texts, labels, recipe)
        started, cpu0 = time.time(), resource.getrusage(resource.RUSAGE_CHILDREN)
        if tuned_model(key) is None:
            run_child(base, texts, labels, recipe, niceness=19, threads=1)
        cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        print(
            f"{args.dataset} seed {seed} steps<= {args.max_steps} key {key} -> {tuned_model(key)} "
            f"wall {time.time() - started:.0f}s "
            f"cpu {cpu1.ru_utime - cpu0.ru_utime:.0f}+{cpu1.ru_stime - cpu0.ru_stime:.0f}s "
            f"maxrss {cpu1.ru_maxrss / 1024:.0f}MB",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
