"""Before saving, similar open reports are offered ("Same problem? +1 it instead"); a +1 subscribes, once."""

from __future__ import annotations

from sqlalchemy import func, select

from handlers.friction.similarity import similarities
from handlers.friction.tables import FrictionDraft, FrictionVote
from tests.chat import Chat
from tests.friction.conftest import FORM_VALUES, Cast, count_reports, file_by_form


async def votes(chat: Chat, number: int) -> int:
    async with chat.rt.db.session() as s:
        return int(
            await s.scalar(select(func.count()).select_from(FrictionVote).where(FrictionVote.report_id == number)) or 0
        )


def test_similarity_ranks_the_same_problem_first() -> None:
    docs = ["The claims screen takes 40 seconds to load", "I can't log in on Mondays", "Wrong category suggested"]
    scores = similarities("claims screen is so slow, 40 seconds to load every time", docs)
    assert scores[0] > 0.3 > max(scores[1:])
    assert similarities("anything", []) == []


async def test_similar_open_report_is_offered_and_plus_one_files_nothing(chat: Chat, cast: Cast) -> None:
    number = await file_by_form(cast.eve, what="The claims screen takes 40 seconds to load")
    await cast.finn.says("report")
    reply = await cast.finn.submits({**FORM_VALUES, "what": "claims screen takes about 40 seconds to load for me too"})
    assert "Same problem? +1 it instead" in reply.text and reply.has_button(f"+1 #{number}")
    assert await count_reports(chat.rt) == 1  # nothing filed yet
    plus = await cast.finn.clicks(f"+1 #{number}")
    assert f"+1 on *#{number}*" in plus.text and "1 +1" in plus.text
    assert await count_reports(chat.rt) == 1 and await votes(chat, number) == 1
    async with chat.rt.db.session() as s:
        assert await s.scalar(select(func.count()).select_from(FrictionDraft)) == 0


async def test_file_mine_anyway_files_a_separate_report(chat: Chat, cast: Cast) -> None:
    await file_by_form(cast.eve, what="The claims screen takes 40 seconds to load")
    await cast.finn.says("report")
    await cast.finn.submits({**FORM_VALUES, "what": "claims screen takes 40 seconds to load after lunch"})
    filed = await cast.finn.clicks("File mine anyway")
    assert "your report is *#2*" in filed.text
    assert await count_reports(chat.rt) == 2


async def test_one_step_shows_similar_reports_too(chat: Chat, cast: Cast) -> None:
    number = await file_by_form(cast.eve, what="The claims screen takes 40 seconds to load")
    reply = await cast.gus.says("report the claims screen takes 40 seconds to load")
    assert reply.has_button("File it") and reply.has_button(f"+1 #{number}")


async def test_plus_one_on_own_report_or_twice_counts_once(chat: Chat, cast: Cast) -> None:
    number = await file_by_form(cast.eve)
    own = await cast.eve.acts("friction.vote", str(number))
    assert "your own report" in own.text
    await cast.finn.acts("friction.vote", str(number))
    again = await cast.finn.acts("friction.vote", str(number))
    assert "already given" in again.text
    assert await votes(chat, number) == 1


async def test_plus_one_subscribes_to_updates(chat: Chat, cast: Cast) -> None:
    number = await file_by_form(cast.eve)
    await cast.finn.acts("friction.vote", str(number))
    await cast.ana.acts("friction.take", f"{number}:1")
    recipients = {r.person_id for r in await chat.outbox(kind="friction")}
    assert recipients == {cast.eve.person_id, cast.finn.person_id}
