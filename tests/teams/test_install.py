"""Install and uninstall: references stored, one welcome card, the roster read, removal marks unreachable."""

from __future__ import annotations

import asyncio
import logging

import pytest
from sqlalchemy import func, select

from bot.adapters.teams_store import TeamsConversation, TeamsMember
from bot.tables import PlatformIdentity
from tests.support.teams_harness import BOT, CHANNEL_ID, TEAM_ID, TeamsHarness


async def test_personal_install_stores_the_reference_and_welcomes_with_the_home_view(teams: TeamsHarness) -> None:
    assert (await teams.install(user="aad-1")).status == 200
    welcome = teams.last_reply(user="aad-1")
    assert "Uptake —" in welcome.text and "Your pilot" in welcome.text and "What I can do" in welcome.text
    async with teams.runtime.db.session() as session:
        row = await session.scalar(select(TeamsConversation))
    assert row is not None and (row.kind, row.user_aad_id, row.active) == ("personal", "aad-1", True)


async def test_install_events_arriving_twice_welcome_once(teams: TeamsHarness) -> None:
    await teams.install(user="aad-1")
    await teams.install(user="aad-1", via="installationUpdate")
    await teams.install(user="aad-1")
    assert len(teams.replies(user="aad-1")) == 1


async def test_team_install_welcomes_the_channel_and_reads_the_roster(teams: TeamsHarness) -> None:
    teams.connector.roster[TEAM_ID] = [{"id": "29:aad-5", "name": "Elif", "aadObjectId": "aad-5"}]
    await teams.install(user="aad-0", where="channel")
    assert "mention me" in teams.connector.last(CHANNEL_ID).text
    async with teams.runtime.db.session() as session:
        row = await session.scalar(select(TeamsConversation))
        elif_ = await session.scalar(select(PlatformIdentity).where(PlatformIdentity.user_id == "aad-5"))
    assert row is not None and (row.kind, row.team_id, row.conversation_id) == ("channel", TEAM_ID, CHANNEL_ID)
    assert elif_ is not None and elif_.workspace == teams.tenant


async def test_uninstall_marks_the_person_unreachable_and_the_chat_inactive(teams: TeamsHarness) -> None:
    await teams.says("help", user="aad-1")
    assert (await teams.uninstall(user="aad-1")).status == 200
    async with teams.runtime.db.session() as session:
        link = await session.scalar(select(PlatformIdentity).where(PlatformIdentity.user_id == "aad-1"))
        row = await session.scalar(select(TeamsConversation))
    assert link is not None and link.reachable is False
    assert row is not None and row.active is False
    await teams.install(user="aad-1", via="installationUpdate")  # reinstalled: reachable again
    async with teams.runtime.db.session() as session:
        link = await session.scalar(select(PlatformIdentity).where(PlatformIdentity.user_id == "aad-1"))
        row = await session.scalar(select(TeamsConversation))
    assert link is not None and link.reachable is True and row is not None and row.active is True


async def test_bot_removed_from_a_team_stops_channel_sends(teams: TeamsHarness) -> None:
    await teams.install(user="aad-0", where="channel")
    removed = teams.activity(
        "conversationUpdate", user="aad-0", where="channel", membersRemoved=[{"id": "28:uptake-bot"}]
    )
    assert (await teams.send(removed)).status == 200
    async with teams.runtime.db.session() as session:
        row = await session.scalar(select(TeamsConversation))
    assert row is not None and row.active is False


async def test_connector_clients_are_built_once_for_many_turns(teams: TeamsHarness) -> None:
    for i in range(5):
        await teams.says("help", user=f"aad-{i}")
    endpoint = teams.runtime.extras["teams"]
    assert endpoint.pool.clients_built == 1  # one ConnectorClient per (serviceUrl, audience), not one per turn


async def test_both_install_events_at_once_read_the_roster_without_a_failed_turn(
    teams: TeamsHarness, caplog: pytest.LogCaptureFixture
) -> None:
    """Teams (and the Agents Playground) send conversationUpdate and installationUpdate for one install together."""
    roster = [{"id": f"29:aad-{i}", "name": f"P{i}", "aadObjectId": f"aad-{i}"} for i in range(40)]
    teams.connector.roster[TEAM_ID] = roster
    update = teams.activity("conversationUpdate", user="aad-0", where="channel", membersAdded=[dict(BOT)])
    install = teams.activity("installationUpdate", user="aad-0", where="channel", action="add")
    with caplog.at_level(logging.ERROR, logger="uptake.teams"):
        answers = await asyncio.gather(teams.send(update), teams.send(install))
    assert [a.status for a in answers] == [200, 200]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    assert len(teams.connector.to(CHANNEL_ID)) == 1  # one welcome
    async with teams.runtime.db.session() as session:
        members = await session.scalar(select(func.count()).select_from(TeamsMember))
    assert members == 40
