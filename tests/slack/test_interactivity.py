"""Buttons, selects, modals, shortcuts and the App Home, through the real HTTP endpoint."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest

from tests.slack.probe import Probe, make_probe
from tests.support.slack_fixtures import SlackDriver


@pytest.fixture
def probe() -> Probe:
    return make_probe()


@pytest.fixture
async def pslack(
    slack_with: Callable[..., AbstractAsyncContextManager[SlackDriver]], probe: Probe
) -> AsyncIterator[SlackDriver]:
    async with slack_with(reg=probe.reg) as driver:
        yield driver


async def test_slash_command_opens_a_modal_with_the_trigger_id(pslack: SlackDriver) -> None:
    await pslack.command("file", trigger_id="trig.abc")
    call = await pslack.api.wait("views.open")
    assert call.params["trigger_id"] == "trig.abc"
    view = call.params["view"]
    assert view["type"] == "modal" and view["callback_id"] == "probe.file"
    assert len(view["title"]["text"]) <= 24 and view["title"]["text"].endswith("…")
    meta = json.loads(view["private_metadata"])
    assert meta["f"] == "probe.file" and meta["s"] == "s-42" and meta["w"] == "channel" and meta["c"] == "C1"
    kinds = {b["block_id"]: b["element"]["type"] for b in view["blocks"] if b["type"] == "input"}
    assert kinds == {
        "title": "plain_text_input",
        "body": "plain_text_input",
        "severity": "static_select",
        "count": "number_input",
        "due": "datepicker",
        "tags": "multi_static_select",
        "ok": "checkboxes",
    }


async def test_invalid_submission_answers_errors_inline_and_stores_nothing(pslack: SlackDriver, probe: Probe) -> None:
    await pslack.command("file")
    view = await pslack.api.wait("views.open")
    resp = await pslack.submit_view(view, {"title": "bad", "severity": "low", "count": "3"})
    assert resp.status == 200
    assert resp.json() == {"response_action": "errors", "errors": {"title": "Too vague: say what is slow."}}
    assert probe.filed == []


async def test_valid_submission_is_coerced_closes_the_modal_and_answers_where_it_started(
    pslack: SlackDriver, probe: Probe
) -> None:
    await pslack.command("file", channel="C5")
    view = await pslack.api.wait("views.open")
    values: dict[str, Any] = {
        "title": "Screen <slow>",
        "severity": "high",
        "count": "4",
        "due": "2026-12-01",
        "tags": ["a", "b"],
        "ok": True,
    }
    resp = await pslack.submit_view(view, values, user="U1")
    assert resp.status == 200 and resp.body == ""
    assert probe.filed == [
        {
            "title": "Screen <slow>",
            "body": None,
            "severity": "high",
            "count": 4,
            "due": "2026-12-01",
            "tags": ["a", "b"],
            "ok": True,
            "_state": "s-42",
        }
    ]
    msg = await pslack.api.wait("chat.postEphemeral")
    assert msg.params["channel"] == "C5" and "Filed Screen &lt;slow&gt;." in msg.text


async def test_the_same_submission_twice_has_one_effect(pslack: SlackDriver, probe: Probe) -> None:
    await pslack.command("file")
    view = await pslack.api.wait("views.open")
    values = {"title": "Once", "severity": "low", "count": "1"}
    await pslack.submit_view(view, values)
    await pslack.submit_view(view, values)
    assert len(probe.filed) == 1


async def test_button_click_reaches_the_action_and_replace_updates_the_message(
    pslack: SlackDriver, probe: Probe
) -> None:
    await pslack.click("probe.ok", "first")
    reply = await pslack.api.wait("response_url")
    assert reply.params["response_type"] == "ephemeral" and "Clicked first" in reply.text
    await pslack.click("probe.ok", "replace", message_ts="1700000000.000999")
    replaced = await pslack.api.wait("response_url", 2)
    assert replaced.params["replace_original"] is True
    assert probe.clicks == ["first", "replace"]


async def test_select_routes_the_chosen_value(pslack: SlackDriver, probe: Probe) -> None:
    await pslack.select("probe.ok", "option-b")
    await pslack.api.wait("response_url")
    assert probe.clicks == ["option-b"]


async def test_renderer_suffix_for_repeated_action_ids_is_undone(pslack: SlackDriver, probe: Probe) -> None:
    await pslack.click("probe.ok~1", "second")
    await pslack.api.wait("response_url")
    assert probe.clicks == ["second"]


async def test_unknown_action_says_expired_as_an_ephemeral(slack: SlackDriver) -> None:
    await slack.click("gone.since.deploy", "1")
    reply = await slack.api.wait("response_url")
    assert reply.params["response_type"] == "ephemeral"
    assert "expired" in reply.text


async def test_message_shortcut_prefills_from_the_message_and_its_permalink(pslack: SlackDriver, probe: Probe) -> None:
    await pslack.shortcut(
        "friction.report_message",
        message_text="The &lt;claims&gt; screen takes 40 s",
        channel="C3",
        message_ts="1700000123.000200",
    )
    call = await pslack.api.wait("views.open")
    assert probe.shortcuts == [
        ("The <claims> screen takes 40 s", "https://test.slack.com/archives/C3/p1700000123000200")
    ]
    assert json.loads(call.params["view"]["private_metadata"])["s"].startswith("https://test.slack.com/")


async def test_app_home_is_published_with_capability_sections(pslack: SlackDriver) -> None:
    pslack.api.add_user("U4", name="Farah")
    await pslack.home_opened(user="U4")
    call = await pslack.api.wait("views.publish")
    assert call.params["user_id"] == "U4"
    assert call.params["view"]["type"] == "home"
    assert "Hello Farah" in call.text and "What I can do" in call.text


async def test_dm_form_without_trigger_is_offered_behind_a_button(pslack: SlackDriver) -> None:
    await pslack.dm("file", user="U1")
    offer = await pslack.api.wait("chat.postMessage")
    button = offer.button("Open the form")
    t0 = time.time()
    await pslack.click(button["action_id"], button["value"], channel="D1", action_ts=f"{t0:.6f}")
    await pslack.click(button["action_id"], button["value"], channel="D1", action_ts=f"{t0 + 0.2:.6f}")
    await pslack.idle()
    [call] = pslack.api.calls("views.open")  # a double click opens one modal
    assert call.params["view"]["callback_id"] == "probe.file"


async def test_long_answer_is_split_into_messages_within_limits(pslack: SlackDriver) -> None:
    await pslack.command("long")
    await pslack.idle()
    parts = pslack.api.calls("response_url")
    assert len(parts) >= 3
    assert all(len(p.params["blocks"]) <= 50 for p in parts)
    assert "…more" in parts[0].text
    assert "Part 119" in parts[-1].text


async def test_public_reply_goes_in_channel(pslack: SlackDriver) -> None:
    await pslack.command("public")
    reply = await pslack.api.wait("response_url")
    assert reply.params["response_type"] == "in_channel"
