"""Forms as cards: every field kind, server-side validation shown next to the field, values coerced by kind."""

from __future__ import annotations

from bot.adapters.teams_cards import _input
from bot.model import FormField
from tests.support.teams_harness import TeamsHarness


async def test_form_card_has_typed_inputs(teams: TeamsHarness) -> None:
    await teams.says("survey")
    card = teams.last_form()
    inputs = {i["id"]: i for i in card.inputs()}
    assert inputs["f.title"]["type"] == "Input.Text" and inputs["f.title"]["maxLength"] == 80
    assert inputs["f.title"]["isRequired"] is True and inputs["f.title"]["errorMessage"]
    assert inputs["f.details"]["isMultiline"] is True and inputs["f.details"]["isRequired"] is False
    assert inputs["f.tool"]["type"] == "Input.ChoiceSet" and not inputs["f.tool"]["isMultiSelect"]
    assert inputs["f.areas"]["isMultiSelect"] is True
    assert (inputs["f.minutes"]["type"], inputs["f.minutes"]["min"], inputs["f.minutes"]["max"]) == (
        "Input.Number",
        0,
        480,
    )
    assert inputs["f.day"]["type"] == "Input.Date" and inputs["f.at"]["type"] == "Input.Time"
    assert inputs["f.anonymous"]["type"] == "Input.Toggle"


async def test_validation_round_trip_rerenders_the_card_then_replaces_it(teams: TeamsHarness) -> None:
    await teams.says("survey")
    form = teams.last_form()
    await teams.submit_form({"title": "bad", "tool": "intake", "minutes": "5"}, on=form)
    [update] = teams.connector.updates
    assert update.id == form.id
    texts = update.texts
    assert "Please describe it in a few words." in texts
    assert texts.index("Please describe it in a few words.") > 0 and any(i["id"] == "f.title" for i in update.inputs())
    values = {
        "title": "Slow [search](http://x)",
        "tool": "review",
        "areas": ["a", "b"],
        "minutes": "12",
        "day": "2026-11-24",
        "at": "14:30",
        "anonymous": True,
    }
    await teams.submit_form(values, on=form)
    final = teams.connector.updates[-1]
    assert final.id == form.id and not final.inputs()
    text = final.text
    assert "Slow \\[search\\]\\(http://x\\)" in text and "state rollout-1" in text
    assert "areas: \\['a', 'b'\\]" in text and "minutes: 12" in text and "anonymous: True" in text
    assert "at: '14:30'" in text and "day: '2026-11-24'" in text and "details: None" in text


async def test_form_via_action_execute_answers_with_the_error_card(teams: TeamsHarness) -> None:
    await teams.says("survey")
    answer = await teams.submit_form({"title": "bad", "tool": "intake", "minutes": 1}, via="execute")
    assert answer.status == 200 and answer.body["type"] == "application/vnd.microsoft.card.adaptive"
    assert "Please describe it in a few words." in str(answer.body["value"])


async def test_unreadable_value_gets_a_friendly_field_specific_reply(teams: TeamsHarness) -> None:
    await teams.says("survey")
    await teams.submit_form({"title": "Slow", "tool": "", "minutes": "x"})
    text = teams.last_reply().text
    assert "Please choose an option for “Which step”." in text and "“Minutes lost” needs a number" in text


async def test_empty_required_text_gets_the_capabilitys_own_message_next_to_the_field(teams: TeamsHarness) -> None:
    await teams.says("survey")
    form = teams.last_form()
    inputs = {i["id"]: i for i in form.inputs()}
    assert inputs["f.title"]["errorMessage"] == "Please fill in “What slowed you down?”."  # Teams' client check
    for empty in ("", "   "):  # an old client that skips isRequired; whitespace passes Teams' own check
        await teams.submit_form({"title": empty, "tool": "intake", "minutes": "5"}, on=form)
        card = teams.last_reply()
        assert card.id == form.id and "required" not in card.text
        own = "Tell us what slowed you down, even a word helps."
        assert card.texts.index(own) == card.texts.index("Two minutes, promise.") + 1  # right after f.title


async def test_submitted_form_card_is_replaced_by_its_answer(teams: TeamsHarness) -> None:
    await teams.says("survey")
    form = teams.last_form()
    answer = await teams.submit_form({"title": "Slow *search*", "tool": "intake", "minutes": "5"}, via="execute")
    assert answer.body["type"] == "application/vnd.microsoft.card.adaptive"
    assert not any((a.get("data") or {}).get("uptake", {}).get("t") == "f" for a in teams.last_reply().actions())
    assert teams.last_reply().id == form.id and "Thanks, saved Slow \\*search\\*" in teams.last_reply().text


def test_toggle_without_hint_shows_its_words_once() -> None:
    toggle = _input(FormField("share", "Share my name", "checkbox", required=False))
    assert toggle["title"] == "Share my name" and "label" not in toggle
    hinted = _input(FormField("share", "Sharing", "checkbox", required=False, hint="Share my name"))
    assert (hinted["label"], hinted["title"]) == ("Sharing", "Share my name")


async def test_message_action_opens_a_prefilled_form_and_submits_it(teams: TeamsHarness) -> None:
    answer = await teams.message_action(
        "friction.report_message", "The export <b>times out</b>", link="https://teams/l/1"
    )
    assert answer.status == 200
    task = answer.body["task"]
    assert task["type"] == "continue"
    card = task["value"]["card"]["content"]
    title = next(el for el in card["body"] if el.get("id") == "f.title")
    assert title["value"] == "The export times out"
    submit = card["actions"][0]["data"]
    assert submit["uptake"]["s"] == "https://teams/l/1"
    answer = await teams.invoke(
        "composeExtension/submitAction",
        {"commandId": "friction.report_message", "data": {**submit, "f.title": "Export"}},
        where="channel",
    )
    assert answer.status == 200 and answer.body["task"]["type"] == "message"
    assert "Reported Export." in answer.body["task"]["value"]


async def test_unknown_message_action_is_answered_kindly(teams: TeamsHarness) -> None:
    answer = await teams.message_action("gone.shortcut", "hello")
    assert answer.status == 200 and "no longer available" in answer.body["task"]["value"]


async def test_dialog_fetch_and_submit_are_answered_as_dialogs(teams: TeamsHarness) -> None:
    vote = {"msteams": {"type": "task/fetch"}, "uptake": {"t": "a", "a": "probe.vote", "v": "yes"}}
    answer = await teams.invoke("task/fetch", {"data": vote, "context": {"theme": "default"}})
    assert answer.status == 200 and answer.body == {"task": {"type": "message", "value": "You voted yes."}}
    answer = await teams.invoke("task/fetch", {"data": {"msteams": {"type": "task/fetch"}}})
    assert answer.status == 200 and "expired" in answer.body["task"]["value"]
    await teams.says("survey")
    data = next(a["data"] for a in teams.last_form().actions() if a["data"]["uptake"]["t"] == "f")
    answer = await teams.invoke(
        "task/submit", {"data": {**data, "f.title": "bad", "f.tool": "intake", "f.minutes": "5"}}
    )
    task = answer.body["task"]
    assert answer.status == 200 and task["type"] == "continue"  # the dialog stays open with the message by the field
    assert "Please describe it in a few words." in str(task["value"]["card"]["content"])
    answer = await teams.invoke(
        "task/submit", {"data": {**data, "f.title": "Slow", "f.tool": "intake", "f.minutes": "5"}}
    )
    assert answer.body["task"]["type"] == "message" and "Thanks, saved Slow" in answer.body["task"]["value"]
