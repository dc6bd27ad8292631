"""The duplicate index: cached per rollout, rebuilt only when open reports change, fair to many duplicates."""

from __future__ import annotations

from handlers.friction.duplicates import finder
from handlers.friction.taxonomy import taxonomy
from tests.chat import Chat
from tests.friction.conftest import Cast, file_by_form


async def similar(chat: Chat, text: str) -> list[int]:
    async with chat.rt.db.session() as session:
        rollout = await chat.rt.default_rollout(session)
        found = await finder(chat.rt.extras).similar(session, rollout.id, text, taxonomy(chat.rt), limit=10)
        return [rid for rid, _ in found]


async def index_of(chat: Chat) -> object:
    async with chat.rt.db.session() as session:
        rollout = await chat.rt.default_rollout(session)
        return await finder(chat.rt.extras).index(session, rollout.id, taxonomy(chat.rt))


async def test_index_is_reused_until_an_open_report_changes(chat: Chat, cast: Cast) -> None:
    assert await index_of(chat) is None  # nothing open, nothing built
    first = await file_by_form(cast.eve, what="The claims screen takes 40 seconds to load")
    built = await index_of(chat)
    assert built is not None and await index_of(chat) is built
    await cast.gus.says("report")
    await cast.gus.submits({"what": "I can't log in on Mondays", "category": "access", "step": "other"})
    rebuilt = await index_of(chat)
    assert rebuilt is not built and await index_of(chat) is rebuilt
    await cast.ana.acts("friction.take", f"{first}:1")  # still open, same texts: the index stays
    assert await index_of(chat) is rebuilt
    assert await similar(chat, "the claims screen needs 40 seconds to load") == [first]


async def test_closed_reports_are_not_suggested(chat: Chat, cast: Cast) -> None:
    number = await file_by_form(cast.eve, what="The claims screen takes 40 seconds to load")
    assert await similar(chat, "claims screen takes 40 seconds to load") == [number]
    await cast.ana.acts("friction.status", f"{number}:1")
    await cast.ana.submits({"status": "wont_fix", "note": "It is the network"})
    assert await similar(chat, "claims screen takes 40 seconds to load") == []


async def test_many_open_reports_of_one_problem_are_all_offered(chat: Chat, cast: Cast) -> None:
    numbers = []
    for who in (cast.eve, cast.finn, cast.gus, cast.cleo, cast.ana):
        await who.says("report")
        reply = await who.submits({"what": "The claims screen takes 40 seconds to load", "category": "slow"})
        if reply.has_button("File mine anyway"):
            reply = await who.clicks("File mine anyway")
        numbers.append(int(reply.text.split("*#", 1)[1].split("*", 1)[0]))
    assert sorted(await similar(chat, "claims screen takes 40 seconds to load")) == sorted(numbers)
    assert await similar(chat, "I can't log in on Mondays") == []
