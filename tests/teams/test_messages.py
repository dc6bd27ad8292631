"""Messages and card submits through the real endpoint: personal chat, @mentions, Action.Submit, Action.Execute."""

from __future__ import annotations

from sqlalchemy import select

from bot.adapters.teams_store import TeamsConversation
from bot.runtime import Runtime
from bot.tables import Person, PlatformIdentity, ProcessedEvent
from tests.support.teams_harness import CHANNEL_ID, GROUP_ID, TENANT, TeamsHarness


async def test_personal_message_is_answered_with_a_card(teams: TeamsHarness) -> None:
    answer = await teams.says("help", user="aad-1", name="Ana Silva")
    assert answer.status == 200
    reply = teams.last_reply(user="aad-1")
    assert reply.cards[0]["type"] == "AdaptiveCard" and reply.cards[0]["version"] == "1.5"
    assert "What I can do" in reply.text and "vote" in reply.text
    assert reply.activity["attachments"][0]["contentType"] == "application/vnd.microsoft.card.adaptive"


async def test_identity_comes_from_the_activity(teams: TeamsHarness, runtime: Runtime) -> None:
    await teams.says("help", user="aad-7", name="Ben Okafor")
    async with runtime.db.session() as session:
        link = await session.scalar(select(PlatformIdentity).where(PlatformIdentity.user_id == "aad-7"))
        assert link is not None and (link.platform, link.workspace) == ("teams", TENANT)
        person = await session.get_one(Person, link.person_id)
    assert (person.display_name, person.timezone, person.locale) == ("Ben Okafor", "Europe/Berlin", "en-US")


async def test_personal_reference_is_stored_from_the_first_message(teams: TeamsHarness, runtime: Runtime) -> None:
    await teams.says("help", user="aad-1")
    async with runtime.db.session() as session:
        row = await session.scalar(select(TeamsConversation))
    assert row is not None and row.kind == "personal" and row.user_aad_id == "aad-1"
    assert row.service_url == teams.service_url and row.reference["conversation"]["id"] == teams.personal("aad-1")


async def test_channel_mention_is_stripped_and_private_reply_goes_to_the_personal_chat(teams: TeamsHarness) -> None:
    await teams.says("echo hello team", user="aad-2", where="channel")
    personal = teams.last_reply(user="aad-2")
    assert "You said hello team" in personal.text and "<at>" not in personal.text
    assert teams.connector.created and teams.connector.created[0]["members"][0]["id"] == "29:aad-2"
    note = teams.last_reply(user="aad-2", where="channel")
    assert "personal chat" in note.text
    assert note.conversation_id.startswith(CHANNEL_ID)  # answered in the thread the mention came from


async def test_channel_message_without_mention_is_ignored(teams: TeamsHarness) -> None:
    answer = await teams.says("echo nobody asked", user="aad-2", where="channel", mention=False)
    assert answer.status == 200 and teams.connector.activities == []


async def test_group_chat_mention_works(teams: TeamsHarness) -> None:
    await teams.says("vote", user="aad-3", where="groupChat")
    assert "Keep the pilot going?" in teams.last_reply(user="aad-3").text
    assert any(p.conversation_id == GROUP_ID for p in teams.connector.activities)


async def test_button_click_via_action_submit_replaces_the_card(teams: TeamsHarness) -> None:
    await teams.says("vote")
    card = teams.last_reply()
    await teams.click("Yes", on=card)
    [update] = teams.connector.updates
    assert update.id == card.id and "You voted **yes**." in update.text
    assert not update.actions()  # the stale buttons are gone


async def test_button_click_via_action_execute_answers_with_the_new_card(teams: TeamsHarness) -> None:
    await teams.says("vote")
    card = teams.last_reply()
    answer = await teams.click("No", on=card, via="execute")
    assert answer.status == 200
    assert answer.body["statusCode"] == 200 and answer.body["type"] == "application/vnd.microsoft.card.adaptive"
    assert "You voted **no**." in str(answer.body["value"])
    assert teams.connector.updates[0].id == card.id


async def test_select_routes_the_chosen_value(teams: TeamsHarness) -> None:
    await teams.says("pick")
    card = teams.last_reply()
    choose = next(a for a in card.actions() if a["title"] == "Choose")
    data = {**choose["data"], "s.probe.pick": "review"}
    await teams.submit_card(data, reply_to=card.id)
    assert "You picked **review**." in teams.last_reply().text
    answer = await teams.submit_card(data, reply_to=card.id, via="execute")
    assert answer.body["value"] == "You picked review."  # Action.Execute's toast is plain text: no Markdown marks


async def test_expired_button_gets_a_friendly_reply(teams: TeamsHarness) -> None:
    await teams.submit_card({"uptake": {"t": "a", "a": "gone.away", "v": "1"}})
    assert "expired" in teams.last_reply().text
    await teams.submit_card({"something": "else"})
    assert "expired" in teams.last_reply().text


async def test_retried_activity_has_one_effect(teams: TeamsHarness, runtime: Runtime) -> None:
    activity = teams.activity("message", text="notify")
    assert (await teams.send(activity)).status == 200
    assert (await teams.send(activity)).status == 200  # Teams retries with the same activity id
    assert len(teams.replies()) == 1
    async with runtime.db.session() as session:
        keys = list(await session.scalars(select(ProcessedEvent.key)))
    assert any(k.startswith(f"teams:{activity['id']}") for k in keys)


async def test_person_text_cannot_make_links(teams: TeamsHarness) -> None:
    await teams.says("echo [Reset password](https://evil.example) **now**")
    reply = teams.last_reply()
    assert "\\[Reset password\\]\\(https://evil.example\\)" in reply.text
    assert "[Reset password](" not in reply.text and "**now**" not in reply.text


async def test_long_content_is_split_into_cards_under_the_size_limit(teams: TeamsHarness) -> None:
    from bot.adapters.teams_cards import CARD_LIMIT, utf16_size

    await teams.says("long")
    posted = teams.replies()
    assert len(posted) > 1
    assert all(utf16_size(p.cards[0]) <= CARD_LIMIT for p in posted)
    text = "\n".join(p.text for p in posted)
    assert "Item 0" in text and "Item 499" in text


async def test_unhandled_activity_types_get_200_and_no_reply(teams: TeamsHarness) -> None:
    for kind in ("typing", "messageReaction", "event", "endOfConversation"):
        assert (await teams.send(teams.activity(kind))).status == 200
    answer = await teams.invoke("signin/verifyState", {"state": "x"})
    assert answer.status == 501  # what botbuilder's ActivityHandler answers for an invoke it does not implement
    assert teams.connector.activities == []


async def test_bad_requests_are_refused_without_a_500(teams: TeamsHarness) -> None:
    async with teams.session.post(f"{teams.base_url}/api/messages", data="nope") as resp:
        assert resp.status == 415
    async with teams.session.post(f"{teams.base_url}/api/messages", json={"hello": 1}) as resp:
        assert resp.status == 400


async def test_health_lists_teams_as_a_sending_platform(teams: TeamsHarness) -> None:
    async with teams.session.get(f"{teams.base_url}/healthz") as resp:
        body = await resp.json()
    assert resp.status == 200 and "teams" in body["platforms"]
