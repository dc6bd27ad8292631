"""Add to FAQ: a new entry or another way to ask an existing one — stored in the database, active at once, exported."""

from __future__ import annotations

from pathlib import Path

import yaml

from bot.model import Role
from bot.tables import AuditEntry
from handlers.faq.export import export_yaml
from handlers.faq.loader import load_faq_file
from handlers.faq.tables import FaqAddedEntry, FaqEscalation, FaqLearnedExample
from tests.faq.scenario import Cast, count, rows, set_thresholds
from tests.faq.test_conversation_escalation import ask_and_escalate

FRAUD = "can we use the assistant for fraud review claims"


async def answered(cast: Cast, text: str = FRAUD) -> str:
    esc_id = await ask_and_escalate(cast, "eve", text)
    await cast.cleo.acts("faq.answer", esc_id)
    await cast.cleo.submits({"answer": "Not yet: Fraud Review joins in wave 2."})
    set_thresholds(cast.rt, 0.6, 0.3)
    return esc_id


async def test_add_as_new_entry_is_active_immediately_and_exports(cast: Cast, tmp_path: Path) -> None:
    esc_id = await answered(cast)
    form_reply = await cast.cleo.clicks("Add to FAQ as a new entry")
    form = form_reply.form
    assert form is not None
    initial = {f.name: f.initial for f in form.fields}
    assert initial["question"] == FRAUD and initial["answer"].startswith("Not yet")
    values = {
        "id": "fraud-review-scope",
        "question": "Is Fraud Review part of the pilot?",
        "answer": "Not yet: Fraud Review joins in wave 2.",
        "examples": "does the pilot include fraud review\n- when does fraud review start",
        "tags": "scope, waves",
    }
    done = await cast.cleo.submits(values)
    assert "Added `fraud-review-scope`" in done.text
    again = await cast.cleo.submits(values, form=form)  # a retried submission
    assert "in the FAQ already" in again.text
    assert await count(cast.rt, FaqAddedEntry) == 1
    (esc,) = await rows(cast.rt, FaqEscalation)
    assert esc.added_entry_id == "fraud-review-scope" and str(esc.id) == esc_id

    reply = await cast.gus.says(FRAUD)
    assert "added by the change team in chat" in reply.text, reply.text
    assert "Fraud Review joins in wave 2" in reply.text

    async with cast.rt.db.session() as session:
        rollout = await cast.rt.default_rollout(session)
        text = await export_yaml(session, rollout, cast.rt.content.get("faq"))
    path = tmp_path / "export.yml"
    path.write_text(text, encoding="utf-8")
    (entry,) = load_faq_file(path)
    assert entry.id == "fraud-review-scope"
    assert entry.examples == (FRAUD, "does the pilot include fraud review", "when does fraud review start")
    assert entry.tags == ("scope", "waves") and entry.owner == "Cleo"
    assert await count(cast.rt, AuditEntry, AuditEntry.action == "faq.add_entry") == 1


async def test_new_entry_form_checks_the_id(cast: Cast) -> None:
    await answered(cast)
    await cast.cleo.clicks("Add to FAQ as a new entry")
    taken = await cast.cleo.submits({"id": "survey-privacy", "question": "Q?", "answer": "A", "examples": "x"})
    assert taken.form is not None and "taken" in taken.form.errors["id"]
    bad = await cast.cleo.submits({"id": "Not A Slug!", "question": "Q?", "answer": "", "examples": ""})
    assert bad.form is not None and set(bad.form.errors) >= {"id", "answer"}
    assert await count(cast.rt, FaqAddedEntry) == 0


async def test_add_as_example_of_an_existing_entry(cast: Cast) -> None:
    wording = "will the office be closed on the pilot launch day"
    esc_id = await answered(cast, wording)
    offer = cast.cleo.last_reply
    select = next(b.select for b in offer.message.blocks if getattr(b, "select", None))  # type: ignore[union-attr]
    assert select is not None and select.action_id == f"faq.add_example:{esc_id}"
    assert any(o.value == "office-hours" for o in select.options)
    done = await cast.cleo.acts(select.action_id, "office-hours")
    assert "another way to ask `office-hours`" in done.text
    twice = await cast.cleo.acts(select.action_id, "office-hours")
    assert "already" in twice.text
    (learned,) = await rows(cast.rt, FaqLearnedExample)
    assert (learned.entry_id, learned.source, learned.text) == ("office-hours", "expert", wording)
    reply = await cast.gus.says(wording)
    assert reply.has_button("Helpful") and "office-hours" in reply.text

    async with cast.rt.db.session() as session:
        rollout = await cast.rt.default_rollout(session)
        exported = yaml.safe_load(await export_yaml(session, rollout, cast.rt.content.get("faq")))
    (entry,) = exported
    assert entry["id"] == "office-hours" and entry["examples"][-1] == wording


async def test_only_the_responder_or_a_change_lead_adds_to_the_faq(cast: Cast) -> None:
    esc_id = await answered(cast)
    champion = await cast.chat.person("Dana", team="Claims Intake", role=Role.champion)
    denied = await champion.acts("faq.add_new", esc_id)
    assert "Sorry, only a change-lead" in denied.text
    lead = await cast.ana.acts("faq.add_new", esc_id)
    assert lead.form is not None


async def test_an_unanswered_question_cannot_be_added(cast: Cast) -> None:
    esc_id = await ask_and_escalate(cast)
    reply = await cast.cleo.acts("faq.add_new", esc_id)
    assert "Only an answered question" in reply.text
