"""Analytics, review, digest, App Home, demo data and the command line."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from bot.context import JobCtx
from bot.demo import run_demo
from bot.digest import Period
from bot.router import home_view
from handlers.faq import review
from handlers.faq.loader import load_faq_file
from handlers.faq.stats import cluster_topics, digest_section
from handlers.faq.tables import FaqAddedEntry, FaqEscalation, FaqLearnedExample, FaqQuestion
from tests.faq.scenario import CLEAR, Cast, count, only_abstain, set_thresholds
from tests.faq.test_conversation_content import NEW_FILE
from tests.test_cli import uptake


async def test_stats_for_change_leads(cast: Cast) -> None:
    answer = await cast.eve.says(CLEAR)
    await cast.eve.clicks("Helpful", on=answer)
    other = await cast.gus.says("How is adoption measured?")
    await cast.gus.clicks("Not helpful", on=other)
    only_abstain(cast.rt)
    await cast.eve.says("can I use the assistant for fraud review claims")
    await cast.gus.says("does the assistant work for fraud review claims too")
    await cast.eve.says("what is the wifi password for guests")
    await cast.gus.clicks("Ask a person")
    cast.rt.clock.advance(hours=2)  # type: ignore[attr-defined]
    esc = (await cast.chat.outbox(kind="faq_escalation"))[0]
    assert esc.person_id == cast.ana.person_id
    esc_id = (
        cast.gus.last_reply.text.split("Question #")[1].strip() if "Question #" in cast.gus.last_reply.text else "1"
    )
    await cast.ana.acts("faq.answer", esc_id)
    await cast.ana.submits({"answer": "Not yet."})
    set_thresholds(cast.rt, 0.6, 0.3)

    denied = await cast.eve.says("faq stats")
    assert "only a change-lead" in denied.text
    stats = await cast.ana.says("faq stats 7")
    text = stats.text
    assert "Questions asked: 5" in text
    assert "Answered: 40% (2)" in text
    assert "Helpful: 50% of 2 rated" in text
    assert "Asked a person: 1 (1 answered)" in text
    assert "Median time to a person's answer: 2.0 h" in text
    assert "fraud review claims — 2 questions" in text
    assert "Entries never matched (43)" in text and "`survey-privacy`" not in text
    bad = await cast.ana.says("faq stats soon")
    assert "Usage" in bad.text


def test_unanswered_questions_cluster_by_topic() -> None:
    topics = cluster_topics(
        [
            "can I use it for fraud review",
            "does it work for fraud review cases",
            "fraud review: is it included?",
            "what's the wifi password",
            "guest wifi password please",
            "parking at HQ",
        ]
    )
    assert [t.count for t in topics] == [3, 2, 1]
    assert "fraud" in topics[0].label and "wifi" in topics[1].label


async def test_stale_entries_go_to_their_owners_and_change_leads(cast: Cast, content_dir: Path) -> None:
    (content_dir / "faq" / "zz-parking.yml").write_text(NEW_FILE, encoding="utf-8")
    await cast.ana.says("content reload")
    listing = await cast.ana.says("faq stale")
    assert "`parking`" in listing.text and "last reviewed 2020-01-01" in listing.text
    mine = await cast.eve.says("faq stale")
    assert "Nothing to review" in mine.text
    async with cast.rt.db.session() as session:
        rollout = await cast.rt.default_rollout(session)
        await review.remind_owners(JobCtx(cast.rt, session, rollout, cast.rt.clock.now()))
        await session.commit()
        await review.remind_owners(JobCtx(cast.rt, session, rollout, cast.rt.clock.now()))
        await session.commit()
    (to_ana,) = await cast.chat.outbox(kind="faq_review")  # Ana owns `parking` and leads the rest: one message
    assert to_ana.person_id == cast.ana.person_id


async def test_digest_section_has_the_figures_and_new_entries(cast: Cast) -> None:
    start = cast.rt.clock.now()
    await cast.eve.says(CLEAR)
    async with cast.rt.db.session() as session:
        rollout = await cast.rt.default_rollout(session)
        session.add(
            FaqAddedEntry(
                rollout_id=rollout.id, slug="added-one", question="Q?", answer="A", examples=["q"], created_at=start
            )
        )
        await session.commit()
        period = Period(start - dt.timedelta(days=1), start + dt.timedelta(days=6))
        section = await digest_section(session, rollout, period, cast.rt)
        empty = await digest_section(
            session, rollout, Period(start - dt.timedelta(days=30), start - dt.timedelta(days=20)), cast.rt
        )
    assert section is not None and empty is None
    assert section.metrics["faq_asked"] == 1 and section.metrics["faq_answered_rate"] == 1.0
    assert any("added-one" in line for line in section.lines)


async def test_app_home_has_the_hint_and_open_escalations(cast: Cast) -> None:
    only_abstain(cast.rt)
    await cast.eve.says("what is the wifi password for guests")
    await cast.eve.clicks("Ask a person")
    blocks = await home_view(cast.rt, cast.eve.identity)
    text = " ".join(getattr(b, "text", "") or "" for b in blocks)
    headings = [getattr(b, "heading", None) for b in blocks]
    assert "Ask a question" in headings and "Your questions waiting for a person" in headings
    assert "wifi password" in text


async def test_demo_adds_questions_an_answered_escalation_and_learned_examples_once(cast: Cast) -> None:
    await run_demo(cast.rt)
    await run_demo(cast.rt)
    assert await count(cast.rt, FaqAddedEntry) == 1
    assert await count(cast.rt, FaqEscalation, FaqEscalation.status == "answered") == 1
    assert await count(cast.rt, FaqLearnedExample) >= 2
    assert await count(cast.rt, FaqQuestion) >= 8
    answer = await cast.eve.says("Can I use the assistant for fraud review claims?")
    assert "Fraud Review joins in wave 2" in answer.text


def test_cli_eval_prints_the_contract(tmp_path: Path) -> None:
    faq = tmp_path / "faq.yml"
    faq.write_text(
        NEW_FILE
        + "- id: wifi\n  question: What is the guest wifi password?\n  examples: [wifi for visitors, guest network]\n"
        "  answer: Ask reception.\n",
        encoding="utf-8",
    )
    questions = tmp_path / "q.jsonl"
    questions.write_text(
        json.dumps({"text": "where do I park my car", "expected": "parking"})
        + "\n"
        + json.dumps({"text": "banana bread recipe", "expected": None})
        + "\n",
        encoding="utf-8",
    )
    result = uptake("faq", "eval", "--faq", str(faq), "--questions", str(questions), "--json", data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {
        "n",
        "top1_accuracy",
        "answered_accuracy",
        "precision",
        "oos_recall",
        "coverage",
        "p50_ms",
        "p99_ms",
    }
    assert data["n"] == 2 and data["top1_accuracy"] == 1.0
    broken = uptake("faq", "eval", "--faq", str(questions), "--questions", str(questions), data_dir=tmp_path)
    assert broken.returncode == 2 and "content error" in broken.stderr


def test_cli_export_writes_what_was_added_in_chat(tmp_path: Path) -> None:
    assert uptake("demo", data_dir=tmp_path).returncode == 0
    out = tmp_path / "added.yml"
    res = uptake("faq", "export", "--output", str(out), data_dir=tmp_path)
    assert res.returncode == 0, res.stderr
    entries = load_faq_file(out)
    assert [e.id for e in entries] == ["claims-queue-priority"]
    with_learned = uptake("faq", "export", "--learned", data_dir=tmp_path)
    assert "survey-privacy" in with_learned.stdout
