"""Demo FAQ activity: questions answered and not, an escalation a champion answered and added to the FAQ, and
wordings learned from 👍. Keyed on the demo entry's id, so running `uptake demo` twice adds nothing."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.tables import Person, Rollout
from handlers.faq.matcher import normalise_question
from handlers.faq.tables import FaqAddedEntry, FaqEscalation, FaqLearnedExample, FaqQuestion

DEMO_ENTRY = "claims-queue-priority"

ASKED = [  # (question, entry or None, outcome, confidence, feedback)
    ("is the pulse survey anonymous", "survey-privacy", "answered", 0.93, "helpful"),
    ("how do I turn off the reminders", "mute-notifications", "answered", 0.91, "helpful"),
    ("when are office hours this week", "office-hours", "answered", 0.88, None),
    ("I pasted a customer's address into the assistant", "data-incident", "answered", 0.86, "helpful"),
    ("will the AI take my job", "job-security", "answered", 0.9, "not_helpful"),
    ("can I use it for fraud cases too", None, "abstained", 0.12, None),
    ("does it work for fraud review claims", None, "abstained", 0.1, None),
    ("what's the parking situation at HQ", None, "abstained", 0.03, None),
    ("how do I check the suggestion is right", "verify-output", "suggested", 0.55, None),
]


async def seed(session: AsyncSession, rollout: Rollout, people: list[Person], rt: Any, rng: random.Random) -> None:
    exists = await session.scalar(
        select(FaqAddedEntry.id).where(FaqAddedEntry.rollout_id == rollout.id, FaqAddedEntry.slug == DEMO_ENTRY)
    )
    if exists is not None or len(people) < 12:
        return
    now = rt.clock.now()
    known = {e.id for e in rt.content.get("faq", []) or []}
    employees = people[12:]
    questions: list[FaqQuestion] = []
    for i, (text, entry, outcome, confidence, feedback) in enumerate(ASKED):
        q = FaqQuestion(
            rollout_id=rollout.id,
            person_id=employees[i % len(employees)].id,
            text=text,
            normalised=normalise_question(text),
            entry_id=entry if entry in known else None,
            confidence=confidence,
            outcome=outcome if entry is None or entry in known else "abstained",
            feedback=feedback,
            asked_at=now - dt.timedelta(days=6 - i % 6, hours=rng.randint(0, 8)),
        )
        session.add(q)
        questions.append(q)
    await session.flush()
    for q in questions:
        if q.feedback == "helpful" and q.entry_id:
            session.add(
                FaqLearnedExample(
                    rollout_id=rollout.id,
                    entry_id=q.entry_id,
                    text=q.text,
                    normalised=q.normalised,
                    source="helpful",
                    person_id=q.person_id,
                    question_id=q.id,
                    created_at=q.asked_at,
                )
            )
    asked = questions[5]  # "can I use it for fraud cases too": a champion answered it
    champion = next((p for p in people[4:12] if p.team == "Fraud Review"), people[4])
    esc = FaqEscalation(
        rollout_id=rollout.id,
        question_id=asked.id,
        asker_id=asked.person_id,
        status="answered",
        targets=[{"person": champion.id}],
        responder_id=champion.id,
        answer="Not yet: the pilot covers Claims Intake only. Fraud Review joins in wave 2; until then, keep "
        "using the current fraud checklist.",
        added_entry_id=DEMO_ENTRY,
        created_at=asked.asked_at,
        surfaced_at=asked.asked_at,
        answered_at=asked.asked_at + dt.timedelta(hours=3),
    )
    session.add(esc)
    await session.flush()
    session.add(
        FaqAddedEntry(
            rollout_id=rollout.id,
            slug=DEMO_ENTRY,
            question="Can I use the assistant for fraud review claims?",
            answer=esc.answer or "",
            examples=[asked.text, "does it work for fraud review claims", "is fraud review in the pilot"],
            tags=["scope"],
            owner=champion.display_name,
            escalation_id=esc.id,
            created_by=champion.id,
            created_at=esc.answered_at or now,
            reviewed=(esc.answered_at or now).date(),
        )
    )
    # An open question waiting for a person, so the App Home and `faq stats` have something to show.
    waiting = questions[7]
    session.add(
        FaqEscalation(
            rollout_id=rollout.id,
            question_id=waiting.id,
            asker_id=waiting.person_id,
            targets=[],
            created_at=waiting.asked_at,
            surfaced_at=waiting.asked_at,
        )
    )
    await session.flush()
