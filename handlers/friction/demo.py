"""`uptake demo`: ~30 believable friction reports across every status for the demo rollout (idempotent)."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.tables import Person, Rollout
from handlers.friction.tables import (
    FrictionEvent,
    FrictionHiddenFollower,
    FrictionReport,
    FrictionVote,
)

# (text, category, impact, frequency, status, what we changed / why not)
SAMPLES: tuple[tuple[str, str, str, str, str, str], ...] = (
    (
        "The triage suggestion takes 30–40 seconds on claims with many attachments.",
        "slow",
        "slows",
        "always",
        "in_progress",
        "",
    ),
    ("It suggested 'motor' for a clear water damage claim twice today.", "trust", "slows", "sometimes", "triaged", ""),
    (
        "I copy the claim text into the assistant and paste the answer back into the claims system.",
        "workflow",
        "slows",
        "always",
        "resolved",
        "The assistant now opens as a side panel inside the claims system; no more copy and paste.",
    ),
    (
        "Am I allowed to paste the customer's medical notes into it?",
        "rules",
        "blocks",
        "sometimes",
        "resolved",
        "Published the data rules: medical notes stay out; the panel masks them automatically.",
    ),
    (
        "I still don't have access — the license request has been pending for two weeks.",
        "access",
        "blocks",
        "always",
        "resolved",
        "Licenses for the whole Fraud Review team were assigned on Monday.",
    ),
    (
        "It can't see the photos attached to the claim, so the damage assessment is guesswork.",
        "access",
        "slows",
        "always",
        "in_progress",
        "",
    ),
    (
        "No idea which prompt to use for a multi-vehicle accident.",
        "howto",
        "annoyance",
        "sometimes",
        "resolved",
        "Added three prompt templates for multi-party claims to the FAQ and the office hours.",
    ),
    (
        "The confidence score is missing, so I re-check every suggestion by hand.",
        "trust",
        "slows",
        "always",
        "triaged",
        "",
    ),
    ("Who signs off when the assistant routes a claim to the wrong queue?", "rules", "slows", "once", "new", ""),
    ("Page freezes after the third suggestion in a row; I have to reload.", "slow", "blocks", "sometimes", "new", ""),
    (
        "The routing codes it suggests don't match our routing form, I retype them.",
        "workflow",
        "slows",
        "always",
        "in_progress",
        "",
    ),
    (
        "It invented a policy clause (4.7b) that does not exist.",
        "trust",
        "blocks",
        "once",
        "resolved",
        "The assistant now cites the policy section it used; answers without a source are flagged.",
    ),
    (
        "Training was for the old screen, the buttons have moved.",
        "howto",
        "annoyance",
        "once",
        "wont_fix",
        "The new screen ships in two weeks with an updated 10-minute walkthrough; we won't redo the old one.",
    ),
    ("Login fails every morning until I clear the browser cache.", "access", "annoyance", "always", "triaged", ""),
    ("Suggestions in Swedish claims are much worse than in English.", "trust", "slows", "sometimes", "new", ""),
    (
        "Waiting for the suggestion is slower than just doing the triage myself.",
        "slow",
        "slows",
        "always",
        "duplicate",
        "",
    ),
    (
        "Not clear if we must log that the assistant was used in the claim note.",
        "rules",
        "annoyance",
        "sometimes",
        "triaged",
        "",
    ),
    ("Customer history is a week out of date in the assistant.", "access", "slows", "sometimes", "new", ""),
    (
        "Two extra clicks to accept a suggestion — it should be one.",
        "workflow",
        "annoyance",
        "always",
        "resolved",
        "Accepting a suggestion is now one click (or Enter).",
    ),
    (
        "How do I check quickly whether a suggestion is right?",
        "howto",
        "slows",
        "sometimes",
        "resolved",
        "Published a 5-point verification checklist, pinned in the team channel.",
    ),
    ("It times out on claims longer than ten pages.", "slow", "blocks", "sometimes", "in_progress", ""),
    (
        "The fraud indicators it lists are generic and not about this claim.",
        "trust",
        "annoyance",
        "sometimes",
        "wont_fix",
        "Fraud scoring stays with the dedicated fraud model by policy; the assistant will not score fraud.",
    ),
    (
        "I have to switch tabs between the queue and the assistant all day.",
        "workflow",
        "slows",
        "always",
        "duplicate",
        "",
    ),
    ("Don't know whether I may use it for complaints, or only for new claims.", "rules", "slows", "once", "new", ""),
    ("Suggestions ignore the customer's previous claims.", "trust", "slows", "sometimes", "new", ""),
    ("Keyboard shortcuts don't work in the assistant panel.", "workflow", "annoyance", "always", "new", ""),
    ("Afternoon latency is terrible, 20+ seconds per claim.", "slow", "slows", "sometimes", "triaged", ""),
    (
        "Where do I report a wrong suggestion so it gets better?",
        "howto",
        "annoyance",
        "once",
        "resolved",
        "Added a 'Wrong suggestion' button; reports go to the technical owner weekly.",
    ),
    ("The assistant cannot open the scanned PDF forms.", "access", "blocks", "sometimes", "in_progress", ""),
    (
        "The summary it writes for the customer note is too long to use.",
        "workflow",
        "annoyance",
        "sometimes",
        "new",
        "",
    ),
)
PATHS = {
    "triaged": ("triaged",),
    "in_progress": ("triaged", "in_progress"),
    "resolved": ("triaged", "in_progress", "resolved"),
    "wont_fix": ("triaged", "wont_fix"),
    "duplicate": ("duplicate",),
}
DUPLICATE_OF = {15: 0, 22: 2}  # index -> index of the report it duplicates


async def seed_reports(
    session: AsyncSession, rollout: Rollout, people: list[Person], rt: Any, rng: random.Random
) -> None:
    """Add the demo reports once (keyed `demo-N`), spread over the last five weeks, owned by the change lead."""
    exists = await session.scalar(
        select(FrictionReport.id).where(FrictionReport.rollout_id == rollout.id, FrictionReport.submit_key == "demo-0")
    )
    if exists is not None or not people:
        return
    now = rt.clock.now()
    lead = people[0]
    rng = random.Random(6)
    made: list[FrictionReport] = []
    steps = list((rollout.config or {}).get("workflow_steps") or ["other"])
    for i, (text, cat, impact, freq, status, note) in enumerate(SAMPLES):
        reporter = people[(i * 7 + 3) % len(people)]
        created = now - dt.timedelta(days=35 - i, hours=rng.randint(0, 8))
        anonymous = i % 6 == 5
        report = FrictionReport(
            rollout_id=rollout.id, submit_key=f"demo-{i}", workflow_step=rng.choice([*steps, "other"]), text=text,
            category=cat, category_confirmed=status != "new", impact=impact, frequency=freq, team=reporter.team,
            anonymous=anonymous, reporter_id=None if anonymous else reporter.id, status="new",
            created_at=created, updated_at=created,
        )  # fmt: skip
        session.add(report)
        await session.flush()
        session.add(
            FrictionEvent(report_id=report.id, kind="filed", to_status="new", at=created,
                          actor_id=None if anonymous else reporter.id)
        )  # fmt: skip
        path = PATHS.get(status, ())
        at = created
        before = "new"
        for step in path:
            at = at + dt.timedelta(hours=rng.randint(4, 60))
            at = min(at, now - dt.timedelta(hours=1))
            session.add(FrictionEvent(report_id=report.id, kind="status", from_status=before, to_status=step,
                                      actor_id=lead.id, at=at, note=note or None))  # fmt: skip
            report.first_response_at = report.first_response_at or at
            before = step
        report.status = status
        report.updated_at = at
        if status != "new":
            report.owner_id = lead.id
        if status in ("resolved", "wont_fix", "duplicate"):
            report.closed_at = at
            report.resolution = note or None
        if i in DUPLICATE_OF:
            report.duplicate_of_id = made[DUPLICATE_OF[i]].id
        if anonymous and status not in ("resolved", "wont_fix", "duplicate"):
            session.add(FrictionHiddenFollower(report_id=report.id, person_id=reporter.id, reporter=True))
        voters = rng.sample([p for p in people if p.id != reporter.id], k=rng.choice([0, 0, 1, 2, 3, 5]))
        session.add_all(FrictionVote(report_id=report.id, person_id=p.id, at=created) for p in voters)
        made.append(report)
    await session.flush()
