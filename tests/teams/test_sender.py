"""Proactive sends for the outbox: stored references only, a 1:1 chat opened from the roster, 403 blocked -> the
person is unreachable, 429/5xx -> retried later (with Retry-After), channel posts."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from bot.adapters.teams_store import TeamsConversation, TeamsMember
from bot.delivery import drain
from bot.model import Identity, Message, Section
from bot.runtime import SendError
from bot.tables import OutboxMessage, PlatformIdentity
from tests.support.teams_harness import CHANNEL_ID, TEAM_ID, TENANT, TeamsHarness

NOTE = Message("Your report was triaged", (Section(heading="Update", text="Your report is *in progress*."),))


def _sender(teams: TeamsHarness):  # type: ignore[no-untyped-def]
    return teams.runtime.senders["teams"]


async def test_send_to_person_continues_the_stored_personal_conversation(teams: TeamsHarness) -> None:
    await teams.install(user="aad-1")
    teams.connector.clear()
    msg_id = await _sender(teams).send_to_person(Identity("teams", TENANT, "aad-1"), NOTE, ref="outbox:1")
    posted = teams.last_reply(user="aad-1")
    assert msg_id == posted.id and "Your report is **in progress**." in posted.text
    assert teams.connector.created == []


async def test_no_reference_and_no_roster_entry_fails_without_any_call(teams: TeamsHarness) -> None:
    with pytest.raises(SendError) as err:
        await _sender(teams).send_to_person(Identity("teams", TENANT, "aad-stranger"), NOTE)
    assert not err.value.transient and not err.value.unreachable
    assert teams.connector.requests == 0


async def test_roster_member_gets_a_new_personal_chat(teams: TeamsHarness) -> None:
    teams.connector.roster[TEAM_ID] = [
        {"id": f"29:aad-{i}", "name": f"Member {i}", "aadObjectId": f"aad-{i}"} for i in range(150)
    ]
    await teams.install(user="aad-0", where="channel")
    assert [token for _, token in teams.connector.roster_reads] == [None, "100"]  # two pages of 100
    async with teams.runtime.db.session() as session:
        members = list(await session.scalars(select(TeamsMember)))
        links = list(await session.scalars(select(PlatformIdentity).where(PlatformIdentity.platform == "teams")))
    assert len(members) == 150 and len(links) >= 150
    await _sender(teams).send_to_person(Identity("teams", TENANT, "aad-42"), NOTE)
    [created] = teams.connector.created
    assert created["members"][0]["id"] == "29:aad-42" and created["tenantID"] == TENANT
    assert "in progress" in teams.last_reply(user="aad-42").text
    teams.connector.created.clear()
    await _sender(teams).send_to_person(Identity("teams", TENANT, "aad-42"), NOTE)
    assert teams.connector.created == []  # the new chat's reference was stored


async def test_blocked_person_is_marked_unreachable_by_the_outbox(teams: TeamsHarness) -> None:
    rt = teams.runtime
    await teams.says("notify", user="aad-1")
    teams.connector.block(teams.personal("aad-1"))
    assert await drain(rt) == 1
    async with rt.db.session() as session:
        row = await session.scalar(select(OutboxMessage))
        link = await session.scalar(select(PlatformIdentity).where(PlatformIdentity.user_id == "aad-1"))
        conv = await session.scalar(select(TeamsConversation))
    assert row is not None and row.status == "failed" and row.attempts == 1
    assert link is not None and link.reachable is False
    assert conv is not None and conv.active is False


async def test_429_is_retried_after_retry_after(teams: TeamsHarness) -> None:
    rt = teams.runtime
    await teams.says("notify", user="aad-1")
    teams.connector.fail(429, retry_after=3, conversation_id=teams.personal("aad-1"))
    await drain(rt)
    async with rt.db.session() as session:
        row = await session.scalar(select(OutboxMessage))
    assert row is not None and row.status == "pending"
    wait = (row.next_attempt_at - rt.clock.now()).total_seconds()
    assert 3 <= wait <= 3.6 + 1e-6  # Retry-After plus at most 20 % jitter
    rt.clock.advance(seconds=4)  # type: ignore[attr-defined]
    await drain(rt)
    async with rt.db.session() as session:
        row = await session.scalar(select(OutboxMessage))
    # A 429 pauses the bucket rather than burning one of the row's attempts (bot/delivery.py).
    assert row is not None and row.status == "sent"
    assert "A note for later" in teams.last_reply(user="aad-1").text


@pytest.mark.parametrize(
    ("status", "transient"),
    [
        (412, True),
        (429, True),
        (500, True),
        (502, True),
        (503, True),
        (504, True),
        (400, False),
        (404, False),
        (403, False),
    ],
)
async def test_errors_are_classified(teams: TeamsHarness, status: int, transient: bool) -> None:
    await teams.install(user="aad-1")
    teams.connector.fail(status, conversation_id=teams.personal("aad-1"))
    with pytest.raises(SendError) as err:
        await _sender(teams).send_to_person(Identity("teams", TENANT, "aad-1"), NOTE)
    assert err.value.transient is transient and err.value.unreachable is False


async def test_send_to_channel_posts_where_the_bot_is_installed(teams: TeamsHarness) -> None:
    await teams.install(user="aad-0", where="channel")
    teams.connector.clear()
    msg_id = await _sender(teams).send_to_channel(TENANT, CHANNEL_ID, NOTE)
    posted = teams.connector.last(CHANNEL_ID)
    assert posted.id == msg_id and "Update" in posted.text
    with pytest.raises(SendError):
        await _sender(teams).send_to_channel(TENANT, "19:elsewhere@thread.tacv2", NOTE)
    with pytest.raises(SendError):
        await _sender(teams).send_to_channel("other-tenant", CHANNEL_ID, NOTE)


async def test_long_message_partly_sent_is_completed_without_resending_its_first_cards(teams: TeamsHarness) -> None:
    rt = teams.runtime
    await teams.says("digest", user="aad-1")
    teams.connector.clear()
    teams.connector.fail(502, conversation_id=teams.personal("aad-1"), after=2)  # the third card fails
    await drain(rt)
    async with rt.db.session() as session:
        row = await session.scalar(select(OutboxMessage))
    assert row is not None and row.status == "pending" and len(teams.connector.activities) == 2
    rt.clock.advance(seconds=120)  # type: ignore[attr-defined]
    await drain(rt)
    async with rt.db.session() as session:
        row = await session.scalar(select(OutboxMessage))
    cards = [p.activity["attachments"][0]["content"] for p in teams.connector.activities]
    assert row is not None and row.status == "sent" and row.platform_message_id == teams.connector.activities[0].id
    assert len(cards) >= 3 and len({json.dumps(c, sort_keys=True) for c in cards}) == len(cards)  # none twice
    facts = [t for p in teams.connector.activities for t in p.texts if t.startswith("Item ")]
    assert [int(t.split(":")[0].split()[1]) for t in facts] == list(range(500))  # all, in order, once


async def test_send_to_channel_without_a_workspace_uses_the_stored_tenant(teams: TeamsHarness) -> None:
    """rollout.yml names channels without a tenant: the stored (authenticated) reference says which one."""
    await teams.install(user="aad-0", where="channel")
    teams.connector.clear()
    msg_id = await _sender(teams).send_to_channel("", CHANNEL_ID, NOTE)
    assert teams.connector.last(CHANNEL_ID).id == msg_id
