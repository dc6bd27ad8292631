"""The `faq eval` JSON contract of issue 5, on a tiny FAQ and questions file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from handlers.faq.decision import Thresholds
from handlers.faq.evaluation import evaluate, main
from handlers.faq.model import FaqEntry

KEYS = {"n", "top1_accuracy", "answered_accuracy", "precision", "oos_recall", "coverage", "p50_ms", "p99_ms"}


@pytest.fixture
def files(tmp_path: Path, tiny_faq: list[FaqEntry]) -> tuple[Path, Path]:
    faq = tmp_path / "faq.yml"
    rows = [
        {"id": e.id, "question": e.question, "examples": list(e.examples), "answer": e.answer}
        for e in tiny_faq
    ]
    faq.write_text(yaml.safe_dump(rows), encoding="utf-8")
    questions = tmp_path / "questions.jsonl"
    lines = [
        {"text": "how do I mute this bot", "expected": "mute-notifications"},
        {"text": "office hours schedule", "expected": "office-hours"},
        {"text": "will the AI replace my job", "expected": "job-security"},
        {"text": "best pizza in Naples", "expected": None},
    ]
    questions.write_text("\n".join(json.dumps(x) for x in lines) + "\n\n", encoding="utf-8")
    return faq, questions


def test_contract_keys_and_values(files: tuple[Path, Path]) -> None:
    result = evaluate(*files, thresholds=Thresholds(answer=0.3, suggest=0.1))
    assert set(result) == KEYS
    assert result["n"] == 4
    assert result["top1_accuracy"] == 1.0
    assert result["oos_recall"] == 1.0  # the pizza question is not answered
    assert result["answered_accuracy"] == 1.0
    assert result["precision"] == 1.0
    assert result["coverage"] == 0.75
    assert 0 <= result["p50_ms"] <= result["p99_ms"]


def test_unreachable_threshold_answers_nothing(files: tuple[Path, Path]) -> None:
    result = evaluate(*files, thresholds=Thresholds(answer=1.01, suggest=0.1))
    assert result["coverage"] == 0.0 and result["answered_accuracy"] == 0.0
    assert result["precision"] == 1.0  # no answers, so no wrong answers
    assert result["top1_accuracy"] == 1.0  # ignores thresholds


def test_cli_prints_one_json_object(files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    faq, questions = files
    assert main(["--faq", str(faq), "--questions", str(questions), "--json"]) == 0
    assert set(json.loads(capsys.readouterr().out)) == KEYS
