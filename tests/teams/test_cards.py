"""Rendering to Adaptive Cards: escaping person text, Uptake's own formatting, size limits, submit coercion."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.adapters.teams_cards import (
    CARD_LIMIT,
    SubmitProblem,
    button_action,
    escape_md,
    form_card,
    md,
    message_cards,
    read_submit,
    utf16_size,
)
from bot.model import Action, Button, Confirm, Form, FormField, Message, Section, Style, Submission, lit


def test_person_text_is_escaped_and_own_formatting_converted() -> None:
    text = md(
        f"Report *{lit('[Reset password](https://evil.example)')}* is _open_, see [the guide](https://docs.example)"
    )
    assert text == (
        "Report **\\[Reset password\\]\\(https://evil.example\\)** is _open_, see [the guide](https://docs.example)"
    )
    assert escape_md("- not a list\n1. nor this\n# nor a heading") == "\\- not a list\n\\1. nor this\n\\# nor a heading"


@given(st.text(max_size=200))
def test_escaped_text_has_no_unescaped_markdown(text: str) -> None:
    out = escape_md(text)
    for i, ch in enumerate(out):
        if ch in "[]()*_`#~|<>!":
            # every metacharacter is preceded by an odd run of backslashes
            run = len(out[:i]) - len(out[:i].rstrip("\\"))
            assert run % 2 == 1


def test_big_message_splits_and_every_card_fits() -> None:
    sections = tuple(Section(heading=f"Part {i}", text="word " * 2000) for i in range(10))
    cards = message_cards(Message("Digest", sections))
    assert len(cards) > 1
    assert all(utf16_size(c) <= CARD_LIMIT for c in cards)
    assert cards[0]["fallbackText"] == "Digest" and cards[1]["fallbackText"] == "(continued)"


def test_one_giant_text_is_cut_into_blocks() -> None:
    cards = message_cards(Message("x", (Section(user_text="y" * 100_000),)))
    assert all(utf16_size(c) <= CARD_LIMIT for c in cards)
    assert sum(b["text"].count("y") for c in cards for b in c["body"]) == 100_000


def test_buttons_carry_their_action_and_fall_back_to_submit() -> None:
    action = button_action(Button("Approve", "friction.approve", "12", style=Style.primary))
    assert action["type"] == "Action.Execute" and action["style"] == "positive"
    assert action["data"] == {"uptake": {"t": "a", "a": "friction.approve", "v": "12"}}
    assert action["fallback"]["type"] == "Action.Submit" and action["fallback"]["data"] == action["data"]
    confirm = button_action(Button("Delete", "x.del", "1", style=Style.danger, confirm=Confirm("Sure?", "Gone.")))
    assert confirm["type"] == "Action.ShowCard" and confirm["card"]["actions"][0]["style"] == "destructive"
    link = button_action(Button("Open", "x", url="https://uptake.example/r/1"))
    assert link == {"type": "Action.OpenUrl", "title": "Open", "url": "https://uptake.example/r/1"}


def test_form_errors_sit_right_after_their_field() -> None:
    form = Form("f.x", "Title", (FormField("a", "A"), FormField("b", "B")), errors={"b": "Too short.", "_": "Oops."})
    body = form_card(form)["body"]
    ids = [el.get("id") or el.get("text") for el in body]
    assert ids == ["Title", "Oops.", "f.a", "f.b", "Too short."]


def test_read_submit_coerces_by_kind() -> None:
    data = {
        "uptake": {
            "t": "f",
            "f": "x.form",
            "s": "7",
            "k": {"n": "number", "m": "multi_select", "c": "checkbox", "t": "short_text"},
            "r": ["n"],
        },
        "f.n": "3.5",
        "f.m": "a,b",
        "f.c": "false",
        "f.t": "",
    }
    assert read_submit(data) == Submission("x.form", {"n": 3.5, "m": ["a", "b"], "c": False, "t": None}, "7")
    assert isinstance(read_submit({**data, "f.n": ""}), SubmitProblem)
    assert read_submit({"uptake": {"t": "a", "a": "x", "v": "1"}}) == Action("x", "1")
    assert read_submit({"other": 1}) is None
