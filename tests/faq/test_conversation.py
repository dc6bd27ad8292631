"""Asking: answer, "Did you mean …?", honest abstention, bad input — through the neutral router."""

from __future__ import annotations

from bot.model import Actions, Context, Section
from handlers.faq.answers import markdown_to_safe
from handlers.faq.tables import FaqQuestion
from tests.faq.scenario import CLEAR, OUT_OF_SCOPE, Cast, count, only_abstain, only_suggest, rows


async def test_a_clear_question_is_answered_with_source_cue_and_buttons(cast: Cast) -> None:
    reply = await cast.eve.says(CLEAR)
    assert reply.message is not None
    sections = [b for b in reply.message.blocks if isinstance(b, Section)]
    assert sections[0].heading == "Is the survey anonymous?"
    assert sections[0].text.strip()
    context = [b for b in reply.message.blocks if isinstance(b, Context)]
    assert "survey-privacy" in context[0].text and "match" in context[0].text
    assert [b.label for b in reply.buttons()] == ["👍 Helpful", "👎 Not helpful", "Ask a person"]
    (q,) = await rows(cast.rt, FaqQuestion)
    assert (q.outcome, q.entry_id, q.person_id) == ("answered", "survey-privacy", cast.eve.person_id)
    assert q.normalised == "is the survey anonymous" and 0.6 <= q.confidence <= 1.0


async def test_ask_command_and_mention_take_the_same_path(cast: Cast) -> None:
    via_command = await cast.eve.says("ask " + CLEAR)
    via_word = await cast.eve.command("ask", CLEAR)
    assert "survey-privacy" in via_command.text and "survey-privacy" in via_word.text
    assert await count(cast.rt, FaqQuestion) == 2


async def test_links_show_as_markdown_links(cast: Cast) -> None:
    faq = cast.rt.content.get("faq")
    linked = next(e for e in faq if e.links)
    reply = await cast.eve.says(linked.question)
    assert f"[{linked.links[0].title}]({linked.links[0].url})" in reply.text


async def test_unsure_question_gets_did_you_mean_and_a_choice_shows_that_answer(cast: Cast) -> None:
    only_suggest(cast.rt)
    reply = await cast.eve.says("survey anonymous?")
    assert "Did you mean" in reply.text
    choices = [b for b in reply.buttons() if b.action_id == "faq.show"]
    assert 1 <= len(choices) <= 3
    assert reply.has_button("ask a person")
    chosen = await cast.eve.clicks(choices[0].label)
    assert chosen.has_button("Helpful")
    (q,) = await rows(cast.rt, FaqQuestion)
    assert q.outcome == "suggested" and q.chosen_entry_id == choices[0].value.split(":", 1)[1]


async def test_out_of_scope_question_abstains_plainly(cast: Cast) -> None:
    only_abstain(cast.rt)
    reply = await cast.eve.says(OUT_OF_SCOPE)
    assert "I don't know" in reply.text
    assert reply.has_button("Ask a person")
    assert not reply.has_button("Helpful")
    (q,) = await rows(cast.rt, FaqQuestion)
    assert q.outcome == "abstained"


async def test_default_thresholds_abstain_on_nonsense(cast: Cast) -> None:
    cast.rt.settings.faq_answer_threshold = None
    cast.rt.settings.faq_suggest_threshold = None
    reply = await cast.eve.says("zxqv blorptang wibble frotz")
    assert not reply.has_button("Helpful")


async def test_empty_ask_shows_help_and_long_question_asks_for_shorter(cast: Cast) -> None:
    empty = await cast.eve.says("ask")
    assert "in your own words" in empty.text
    long = await cast.eve.says("ask " + "why " * 130)
    assert "500 characters" in long.text
    assert await count(cast.rt, FaqQuestion) == 0


async def test_person_text_is_never_formatting(cast: Cast) -> None:
    only_abstain(cast.rt)
    await cast.eve.says("what about *this* <@U123> [x](https://evil.example)")
    (q,) = await rows(cast.rt, FaqQuestion)
    assert q.text == "what about *this* <@U123> [x](https://evil.example)"


async def test_buttons_of_someone_elses_question_are_refused(cast: Cast) -> None:
    reply = await cast.eve.says(CLEAR)
    other = await cast.gus.acts("faq.helpful", reply.button("Helpful").value)
    assert "someone else's question" in other.text


def test_markdown_subset_becomes_the_safe_subset() -> None:
    md = "Use the **two-minute** checklist:\n- check *facts*\n- check [names](https://x.example/a)\n\nDone."
    out = markdown_to_safe(md)
    assert "*two-minute*" in out and "**" not in out
    assert "• check _facts_" in out
    assert "• check [names](https://x.example/a)" in out
    assert out.endswith("Done.")


def test_answer_blocks_show_added_answers_literally() -> None:
    from handlers.faq.answers import answer_blocks
    from handlers.faq.matcher import FaqEntry

    entry = FaqEntry("x", "Q?", ("q",), "**not bold** <@U1>", source="db")
    (section,) = answer_blocks(entry, added=True)
    assert isinstance(section, Section) and section.user_text == "**not bold** <@U1>" and not section.text
    assert not any(isinstance(b, Actions) for b in answer_blocks(entry, added=False))
