"""Tuned models are pruned to the newest few, with their ONNX exports, so the cache does not grow per FAQ edit.

Needs no torch: finished models are directories with the marker file, as `tune()` publishes them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from handlers.faq.onnx_encoder import CACHE_ENV, model_key
from handlers.faq.semantic import MAX_SEQ_LENGTH
from handlers.faq.tuning import MARKER, prune


def _finished(root: Path, name: str, age: int) -> Path:
    """A published tuned model `age` seconds old, with an exported ONNX graph beside the others."""
    d = root / "tuned" / name
    d.mkdir(parents=True)
    (d / "model.safetensors").write_bytes(b"x" * 10)
    marker = d / MARKER
    marker.write_text("{}", encoding="utf-8")
    os.utime(marker, (1_700_000_000 - age, 1_700_000_000 - age))
    (root / f"{model_key(str(d), MAX_SEQ_LENGTH)}.onnx").write_bytes(b"graph")
    return d


def test_only_the_newest_tuned_models_are_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    dirs = [_finished(tmp_path, f"k{i}", age=i * 60) for i in range(5)]  # k0 newest
    base_graph = tmp_path / "base-model.onnx"
    base_graph.write_bytes(b"the frozen model's export stays")
    unfinished = tmp_path / "tuned" / ".k9-staging"
    unfinished.mkdir()

    removed = prune(keep=2)

    assert sorted(p.name for p in removed) == ["k2", "k3", "k4"]
    assert [d.exists() for d in dirs] == [True, True, False, False, False]
    graphs = sorted(p.name for p in tmp_path.glob("*.onnx"))
    assert graphs == sorted([base_graph.name, *(f"{model_key(str(d), MAX_SEQ_LENGTH)}.onnx" for d in dirs[:2])])
    assert unfinished.exists()  # another process may be publishing it


def test_the_model_just_published_is_never_pruned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    old = _finished(tmp_path, "old", age=3600)  # e.g. a clock that went back: the new one looks oldest
    newest, older = _finished(tmp_path, "a", age=10), _finished(tmp_path, "b", age=20)
    assert prune(keep=1, spare=old) == [older]
    assert old.exists() and newest.exists() and not older.exists()


def test_no_cache_yet_is_nothing_to_prune(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "missing"))
    assert prune() == []
