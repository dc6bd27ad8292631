"""The learning loop: 👍 teaches a wording (normalised, deduplicated, capped), 👎 offers a person, change leads
see and remove what was learned."""

from __future__ import annotations

from pathlib import Path

from handlers.faq.tables import FaqLearnedExample, FaqQuestion
from tests.faq.scenario import CLEAR, Cast, count, rows

WORDING = "Is the SURVEY   anonymous, really?"


async def test_helpful_learns_the_wording_once(cast: Cast) -> None:
    answer = await cast.eve.says(WORDING)
    assert answer.has_button("Helpful"), answer.text
    thanks = await cast.eve.clicks("Helpful", on=answer)
    assert "next time" in thanks.text
    again = await cast.eve.clicks("Helpful", on=answer)
    assert "already noted" in again.text
    other = await cast.gus.says(WORDING.lower())
    await cast.gus.clicks("Helpful", on=other)
    (learned,) = await rows(cast.rt, FaqLearnedExample)
    assert (learned.entry_id, learned.normalised, learned.source) == (
        "survey-privacy",
        "is the survey anonymous, really",
        "helpful",
    )
    feedback = [q.feedback for q in await rows(cast.rt, FaqQuestion)]
    assert feedback == ["helpful", "helpful"]


async def test_the_entrys_own_wording_is_not_learned_again(cast: Cast) -> None:
    answer = await cast.eve.says(CLEAR)
    await cast.eve.clicks("Helpful", on=answer)
    assert await count(cast.rt, FaqLearnedExample) == 0


async def test_learning_is_capped_per_entry(cast: Cast) -> None:
    cast.rt.settings.faq_learned_per_entry = 1
    for text in ("is the survey anonymous, really", "is the survey anonymous or not"):
        answer = await cast.eve.says(text)
        await cast.eve.clicks("Helpful", on=answer)
    assert await count(cast.rt, FaqLearnedExample) == 1


async def test_not_helpful_records_and_offers_a_person_and_takes_a_thumbs_up_back(cast: Cast) -> None:
    answer = await cast.eve.says(WORDING)
    await cast.eve.clicks("Helpful", on=answer)
    sorry = await cast.eve.clicks("Not helpful", on=answer)
    assert "Sorry" in sorry.text and sorry.has_button("Ask a person")
    assert await count(cast.rt, FaqLearnedExample) == 0
    (q,) = await rows(cast.rt, FaqQuestion)
    assert q.feedback == "not_helpful"
    escalated = await cast.eve.clicks("Ask a person")
    assert "I've asked" in escalated.text


async def test_change_leads_see_and_forget_learned_examples(cast: Cast) -> None:
    answer = await cast.eve.says(WORDING)
    await cast.eve.clicks("Helpful", on=answer)
    (learned,) = await rows(cast.rt, FaqLearnedExample)
    denied = await cast.eve.says("faq learned")
    assert "only a change-lead" in denied.text
    listing = await cast.ana.says("faq learned")
    assert f"#{learned.id}" in listing.text and "survey-privacy" in listing.text
    assert listing.has_button(f"Forget #{learned.id}")
    gone = await cast.ana.says(f"faq forget {learned.id}")
    assert "Forgotten" in gone.text
    assert await count(cast.rt, FaqLearnedExample) == 0
    twice = await cast.ana.says(f"faq forget {learned.id}")
    assert "no learned example" in twice.text
    bad = await cast.ana.says("faq forget abc")
    assert "Usage" in bad.text


async def test_thumbs_up_on_a_deleted_entry_is_quiet(cast: Cast, content_dir: Path) -> None:
    answer = await cast.eve.says(WORDING)
    assert answer.has_button("Helpful")
    for path in (content_dir / "faq").glob("*.yml"):  # remove the survey entries' file from the content
        if "survey-privacy" in path.read_text(encoding="utf-8"):
            text = path.read_text(encoding="utf-8")
            path.write_text(text.replace("id: survey-privacy", "id: survey-privacy-renamed"), encoding="utf-8")
    reload = await cast.ana.says("content reload")
    assert "reloaded" in reload.text
    thanks = await cast.eve.clicks("Helpful", on=answer)
    assert thanks.text == "Thanks for telling me."
    assert await count(cast.rt, FaqLearnedExample) == 0
