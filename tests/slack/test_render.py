"""Escaping and Slack's Block Kit limits (property-based): nothing Uptake renders is rejected by Slack."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import ButtonElement, PlainTextObject

from bot.adapters import slack_limits as lim
from bot.adapters import slack_render
from bot.adapters.slack_render import as_dict, escape, mrkdwn, render_form, render_home, render_message
from bot.model import (
    Actions,
    Button,
    Context,
    Divider,
    Fact,
    Form,
    FormField,
    Message,
    Option,
    Section,
    Select,
    lit,
)
from tests.slack.probe import make_probe
from tests.support.slack_fixtures import SlackDriver

HOSTILE = "<!channel> <@U123> <https://evil.example|Approve> & more"


def test_person_text_is_escaped_and_never_linked() -> None:
    out = mrkdwn(f"Report: {lit(HOSTILE + ' [x](https://evil.example)')}")
    assert out == (
        "Report: &lt;!channel&gt; &lt;@U123&gt; &lt;https://evil.example|Approve&gt; &amp; more "
        "[x](https://evil.example)"
    )


def test_uptake_text_keeps_formatting_and_converts_markdown_links() -> None:
    out = mrkdwn("*Bold* _it_ `code`\n• item [the guide](https://docs.example.com/a?b=1&c=2) a<b")
    assert out == "*Bold* _it_ `code`\n• item <https://docs.example.com/a?b=1&amp;c=2|the guide> a&lt;b"


def test_escaping_is_not_doubled() -> None:
    assert escape("&amp;") == "&amp;amp;"  # what the person typed literally stays literal
    assert mrkdwn(lit("a & b")) == "a &amp; b"


async def test_hostile_text_through_http_reaches_slack_escaped(slack_with) -> None:  # type: ignore[no-untyped-def]
    probe = make_probe()
    async with slack_with(reg=probe.reg) as slack:
        slack: SlackDriver
        # typed text arrives entity-encoded, as Slack sends it
        await slack.command("echo " + HOSTILE.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))
        reply = await slack.api.wait("response_url")
    sent = json.dumps(reply.params)
    assert "&lt;!channel&gt;" in sent and "&lt;@U123&gt;" in sent and "&lt;https://evil.example|Approve&gt;" in sent
    assert "<!channel>" not in sent and "<@U123>" not in sent and "<https://evil" not in sent
    assert "&amp; more" in sent and "&amp;amp;" not in sent
    assert "<https://docs.example.com/a?b=1&amp;c=2|the guide>" in sent


# ---------------------------------------------------------------- limits (Hypothesis)

texts = st.text(min_size=0, max_size=600).filter(lambda s: "\ue000" not in s and "\ue001" not in s)
long_texts = st.one_of(texts, st.integers(0, 7000).map(lambda n: ("word & <x> " * (n // 10 + 1))[:n]))
labels = st.text(min_size=1, max_size=120)
buttons = st.builds(Button, label=labels, action_id=st.text(min_size=1, max_size=300), value=st.text(max_size=2500))
options = st.builds(Option, label=labels, value=st.text(min_size=1, max_size=200))
selects = st.builds(Select, label=labels, action_id=st.just("pick"), options=st.lists(options, max_size=130).map(tuple))
sections = st.builds(
    Section,
    text=long_texts,
    heading=st.one_of(st.none(), st.text(min_size=1, max_size=300)),
    facts=st.lists(st.builds(Fact, label=labels, value=long_texts), max_size=14).map(tuple),
    user_text=st.one_of(st.none(), long_texts),
    buttons=st.lists(buttons, max_size=30).map(tuple),
    select=st.one_of(st.none(), selects),
)
blocks = st.one_of(
    sections,
    st.builds(Context, text=long_texts),
    st.just(Divider()),
    st.builds(Actions, buttons=st.lists(buttons, max_size=30).map(tuple)),
)
messages = st.builds(Message, text=long_texts, blocks=st.lists(blocks, max_size=60).map(tuple))


def _check_blocks(blocks: list[dict], max_blocks: int) -> None:
    assert 1 <= len(blocks) <= max_blocks
    for b in blocks:
        if b["type"] == "section":
            if "text" in b:
                assert 0 < len(b["text"]["text"]) <= lim.SECTION_TEXT
            assert len(b.get("fields") or []) <= lim.FIELDS
            assert all(len(f["text"]) <= lim.FIELD_TEXT for f in b.get("fields") or [])
        elif b["type"] == "header":
            assert len(b["text"]["text"]) <= lim.HEADER_TEXT
        elif b["type"] == "actions":
            assert 1 <= len(b["elements"]) <= lim.ACTIONS_ELEMENTS
            ids = [e["action_id"] for e in b["elements"]]
            assert len(ids) == len(set(ids))
            for e in b["elements"]:
                assert len(e["action_id"]) <= lim.ACTION_ID
                if e["type"] == "button":
                    assert len(e["text"]["text"]) <= lim.BUTTON_TEXT
                    assert len(e.get("value", "")) <= lim.BUTTON_VALUE
                else:
                    assert 1 <= len(e["options"]) <= lim.OPTIONS
                    assert all(len(o["text"]["text"]) <= lim.OPTION_TEXT for o in e["options"])
                    assert all(len(o["value"]) <= lim.OPTION_VALUE for o in e["options"])
        elif b["type"] == "context":
            assert len(b["elements"]) <= lim.CONTEXT_ELEMENTS
            assert all(len(e["text"]) <= lim.CONTEXT_TEXT for e in b["elements"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(messages)
def test_any_message_renders_within_slack_limits(msg: Message) -> None:
    parts = render_message(msg)
    assert 1 <= len(parts) <= lim.MAX_MESSAGES
    for part in parts:
        assert len(part["text"]) <= lim.FALLBACK_TEXT
        if "blocks" in part:
            _check_blocks(part["blocks"], lim.MESSAGE_BLOCKS)
            assert sum(lim.block_chars(b) for b in part["blocks"]) <= lim.MESSAGE_CHARS + lim.SECTION_TEXT
    if len(parts) > 1:
        assert all(p["blocks"][-1]["elements"][0]["text"].startswith(lim.MORE) for p in parts[:-1])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(blocks, max_size=150))
def test_any_home_renders_within_view_limits(home: list) -> None:
    view = render_home(home or [Divider()])
    _check_blocks(view["blocks"], lim.VIEW_BLOCKS)


field_kinds = st.sampled_from(
    ["short_text", "long_text", "select", "multi_select", "number", "date", "time", "checkbox"]
)
form_fields = st.builds(
    FormField,
    name=st.uuids().map(str),
    label=labels,
    kind=field_kinds,
    required=st.booleans(),
    hint=st.one_of(st.none(), texts),
    options=st.lists(options, max_size=120).map(tuple),
    max_length=st.one_of(st.none(), st.integers(1, 10000)),
    placeholder=st.one_of(st.none(), labels),
)


forms = st.builds(
    Form,
    form_id=st.text(min_size=1, max_size=80),
    title=labels,
    fields=st.lists(form_fields, min_size=1, max_size=120).map(tuple),
    submit_label=labels,
    intro=st.one_of(st.none(), long_texts),
    state=st.text(max_size=1500),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(forms)
def test_any_form_renders_as_a_valid_modal(form: Form) -> None:
    view = render_form(form, {"w": "channel", "c": "C1"})
    assert len(view["title"]["text"]) <= lim.MODAL_TITLE
    assert len(view["submit"]["text"]) <= lim.MODAL_BUTTON
    assert len(view["private_metadata"]) <= lim.PRIVATE_METADATA
    assert json.loads(view["private_metadata"])["s"] == form.state
    assert len(view["blocks"]) <= lim.VIEW_BLOCKS
    if len(form.fields) > lim.VIEW_BLOCKS:
        assert view["blocks"][-1]["elements"][0]["text"].startswith(lim.MORE)


# ---------------------------------------------------------------- as_dict is slack_sdk's to_dict, faster


def _with_slack_sdk_to_dict(render: Any, *args: Any) -> Any:
    """The same rendering with every model converted by slack_sdk's own `to_dict()` (our as_dict swapped out)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(slack_render, "as_dict", lambda obj: obj.to_dict())
        return render(*args)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(messages, st.lists(blocks, min_size=1, max_size=40), forms)
def test_as_dict_renders_exactly_what_slack_sdk_to_dict_renders(msg: Message, home: list, form: Form) -> None:
    assert render_message(msg) == _with_slack_sdk_to_dict(render_message, msg)
    assert render_home(home) == _with_slack_sdk_to_dict(render_home, home)
    answer_in = {"w": "channel", "c": "C1"}
    assert render_form(form, answer_in) == _with_slack_sdk_to_dict(render_form, form, answer_in)


def test_as_dict_still_runs_slack_sdks_validators() -> None:
    too_long = ButtonElement(text=PlainTextObject(text="x" * 100), action_id="a")
    with pytest.raises(SlackObjectFormationError):
        too_long.to_dict()
    with pytest.raises(SlackObjectFormationError):
        as_dict(too_long)
