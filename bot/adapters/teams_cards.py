"""The neutral Reply as Adaptive Cards 1.5 (and card submits back to neutral intents).

Pure dicts, no SDK: the same cards work with botbuilder today and the Microsoft 365 Agents SDK later.
Buttons are `Action.Execute` (Universal Actions) with an `Action.Submit` fallback for older clients; both carry
`{"uptake": {...}}` in their data, which is all the adapter needs to route the click. Person-provided text
(`lit()` segments, `Section.user_text`) is Markdown-escaped so it cannot create links or formatting (R25).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any

from bot.model import (
    Action,
    Actions,
    Block,
    Button,
    Context,
    Divider,
    Form,
    FormField,
    Message,
    Section,
    Select,
    Style,
    Submission,
    plain,
    segments,
)

SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
VERSION = "1.5"
# Bot messages may be ~100 KB (UTF-16) but posts that may pass through Workflows/connectors ~28 KB (R23);
# stay under the smaller one so a card never fails with 413 MessageSizeTooBig.
CARD_LIMIT = 28 * 1024
TEXT_CHUNK = 4000
FACTS_PER_SET = 20
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"

_ESCAPE = re.compile(r"([\\`*_\[\]()#~|<>!{}])")
_LIST_START = re.compile(r"^(\s*)([-+]|\d+\.)(\s)", re.MULTILINE)
_SINGLE_NEWLINE = re.compile(r"(?<!\n)\n(?!\n)")
_BOLD = re.compile(r"(?<![\w*\\])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")


def escape_md(text: str) -> str:
    """Show person text literally in a Markdown TextBlock: no links, emphasis, headings or lists."""
    text = _ESCAPE.sub(r"\\\1", text)
    return _LIST_START.sub(lambda m: f"{m.group(1)}\\{m.group(2)}{m.group(3)}", text)


def md(text: str) -> str:
    """Uptake's own text (*bold*, _italic_, `code`, bullets, [title](url)) as card Markdown, person text escaped."""
    own: list[str] = []
    people: list[str] = []
    for is_person, chunk in segments(text):
        if is_person:
            own.append(f"\ue002{len(people)}\ue003")  # a placeholder, so *{lit(x)}* still becomes bold
            people.append(escape_md(chunk))
        else:
            own.append(chunk)
    out = _BOLD.sub(r"**\1**", "".join(own))
    return breaks(re.sub("\ue002(\\d+)\ue003", lambda m: people[int(m.group(1))], out))


_LINK = re.compile(r"\[([^\]\n]+)\]\((?:https?|mailto):[^)\s]+\)")
_MARKS = re.compile(r"(?<![\w\\])[*_`]+(?=\S)|(?<=\S)[*_`]+(?![\w])")


def bare(text: str) -> str:
    """Uptake's text without its Markdown marks, for places Teams shows as plain text (an Action.Execute toast,
    a notification summary); person text stays as written."""
    out = []
    for is_person, chunk in segments(text):
        out.append(chunk if is_person else _MARKS.sub("", _LINK.sub(r"\1", chunk)))
    return "".join(out)


def breaks(text: str) -> str:
    """Card Markdown joins single newlines into one line (seen in Teams' renderer): make each one a break."""
    return _SINGLE_NEWLINE.sub("\n\n", text)


def utf16_size(obj: Any) -> int:
    """Teams counts message size in UTF-16 bytes of the JSON."""
    return len(json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-16-le"))


def _text(text: str, **extra: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, **extra}


def _chunks(text: str, size: int = TEXT_CHUNK) -> list[str]:
    """Split long text on line boundaries (hard-split lines longer than `size`)."""
    parts: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > size:
            if current:
                parts.append(current)
                current = ""
            parts.append(line[:size])
            line = line[size:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > size:
            parts.append(current)
            current = line
        else:
            current = candidate
    if current:
        parts.append(current)
    return parts or [""]


# ---------------------------------------------------------------- actions


def _data(kind: str, **fields: Any) -> dict[str, Any]:
    return {"uptake": {"t": kind, **fields}}


def _execute(title: str, data: dict[str, Any], style: Style = Style.default) -> dict[str, Any]:
    action: dict[str, Any] = {
        "type": "Action.Execute",
        "title": title,
        "verb": "uptake",
        "data": data,
        "fallback": {"type": "Action.Submit", "title": title, "data": data},
    }
    if style == Style.primary:
        action["style"] = "positive"
    elif style == Style.danger:
        action["style"] = "destructive"
    return action


def button_action(b: Button) -> dict[str, Any]:
    title = plain(b.label)[:80]
    if b.url:
        return {"type": "Action.OpenUrl", "title": title, "url": b.url}
    action = _execute(title, _data("a", a=b.action_id, v=b.value), b.style)
    if b.confirm is None:
        return action
    # Cards have no confirm dialog: a ShowCard asks first, its button does the real thing.
    confirm = {**action, "title": plain(b.confirm.yes)[:80]}
    return {
        "type": "Action.ShowCard",
        "title": title,
        "card": {
            "type": "AdaptiveCard",
            "body": [_text(md(b.confirm.title), weight="Bolder"), _text(md(b.confirm.text))],
            "actions": [confirm],
        },
    }


def _select_elements(select: Select) -> list[dict[str, Any]]:
    input_id = f"s.{select.action_id}"
    choice: dict[str, Any] = {
        "type": "Input.ChoiceSet",
        "id": input_id,
        "label": plain(select.label),
        "placeholder": plain(select.placeholder),
        "style": "compact",
        "choices": [{"title": plain(o.label)[:200], "value": o.value} for o in select.options],
    }
    if select.initial is not None:
        choice["value"] = select.initial
    act = _execute("Choose", _data("s", a=select.action_id, i=input_id))
    return [choice, {"type": "ActionSet", "actions": [act]}]


def _action_set(buttons: tuple[Button, ...]) -> list[dict[str, Any]]:
    return [{"type": "ActionSet", "actions": [button_action(b) for b in buttons]}] if buttons else []


# ---------------------------------------------------------------- messages


def block_groups(block: Block) -> list[list[dict[str, Any]]]:
    """A block as groups of elements; a card split happens only between groups."""
    if isinstance(block, Section):
        groups: list[list[dict[str, Any]]] = []
        if block.heading:
            groups.append([_text(md(block.heading), weight="Bolder", size="Medium")])
        groups.extend([_text(part)] for part in _chunks(md(block.text)) if block.text)
        if block.user_text:
            groups.extend([_text(breaks(escape_md(part)))] for part in _chunks(block.user_text))
        facts = [{"title": md(f.label)[:200], "value": md(f.value)[:TEXT_CHUNK]} for f in block.facts]
        for start in range(0, len(facts), FACTS_PER_SET):  # long lists may split between fact sets
            groups.append([{"type": "FactSet", "facts": facts[start : start + FACTS_PER_SET]}])
        tail = _action_set(block.buttons) + (_select_elements(block.select) if block.select else [])
        if tail and not groups:
            groups.append([])
        if tail:
            groups[-1].extend(tail)
        return groups
    if isinstance(block, Context):
        return [[_text(md(block.text), isSubtle=True, size="Small")]]
    if isinstance(block, Divider):
        return [[{"type": "TextBlock", "text": " ", "separator": True, "spacing": "Medium"}]]
    if isinstance(block, Actions):
        elements = _action_set(block.buttons) + (_select_elements(block.select) if block.select else [])
        return [elements] if elements else []
    return []


def card(body: list[dict[str, Any]], *, fallback: str = "", actions: list[dict[str, Any]] | None = None) -> dict:
    out: dict[str, Any] = {
        "type": "AdaptiveCard",
        "$schema": SCHEMA,
        "version": VERSION,
        "body": body,
        "msteams": {"width": "Full"},
    }
    if actions:
        out["actions"] = actions
    if fallback:
        out["fallbackText"] = fallback[:500]
    return out


def message_cards(msg: Message, limit: int = CARD_LIMIT) -> list[dict[str, Any]]:
    """One card per message, or several when the content would pass the size limit."""
    groups: list[list[dict[str, Any]]] = []
    if msg.text and not any(isinstance(b, Section) and b.text == msg.text for b in msg.blocks):
        groups.extend([_text(part)] for part in _chunks(md(msg.text)))
    for block in msg.blocks:
        groups.extend(block_groups(block))
    fallback = plain(msg.text)
    cards: list[dict[str, Any]] = []
    body: list[dict[str, Any]] = []
    for group in groups:
        if body and utf16_size(card([*body, *group], fallback=fallback)) > limit:
            cards.append(card(body, fallback=fallback if not cards else "(continued)"))
            body = []
        body.extend(group)
    if body or not cards:
        cards.append(card(body or [_text(md(msg.text) or " ")], fallback=fallback if not cards else "(continued)"))
    return cards


# ---------------------------------------------------------------- forms


def _label(label: str) -> str:
    return plain(label).strip().rstrip(":*").strip()[:80] or "this field"


def required_message(kind: str, label: str) -> str:
    """What a person reads next to an empty required field: it names the field (Teams shows it under the input,
    and the server repeats it when an old client sends the card without checking)."""
    name = _label(label)
    if kind == "multi_select":
        return f"Please choose at least one option for “{name}”."
    if kind == "select":
        return f"Please choose an option for “{name}”."
    if kind == "number":
        return f"Please enter a number for “{name}”."
    if kind == "date":
        return f"Please pick a date for “{name}”."
    if kind == "time":
        return f"Please pick a time for “{name}”."
    return f"Please fill in “{name}”."


def _input(f: FormField) -> dict[str, Any]:
    iid = f"f.{f.name}"
    base: dict[str, Any] = {"id": iid, "label": plain(f.label), "isRequired": f.required}
    if f.placeholder:
        base["placeholder"] = plain(f.placeholder)
    initial = f.initial
    if f.kind in ("short_text", "long_text"):
        el = {"type": "Input.Text", **base, "isMultiline": f.kind == "long_text"}
        if f.max_length:
            el["maxLength"] = f.max_length
        if initial not in (None, ""):
            el["value"] = str(initial)
        el["errorMessage"] = required_message(f.kind, f.label)
        return el
    if f.kind in ("select", "multi_select"):
        multi = f.kind == "multi_select"
        el = {
            "type": "Input.ChoiceSet",
            **base,
            "isMultiSelect": multi,
            "style": "expanded" if multi or len(f.options) <= 4 else "compact",
            "choices": [{"title": plain(o.label)[:200], "value": o.value} for o in f.options],
            "errorMessage": required_message(f.kind, f.label),
        }
        if initial not in (None, "", []):
            el["value"] = ",".join(initial) if isinstance(initial, list | tuple) else str(initial)
        return el
    if f.kind == "number":
        el = {"type": "Input.Number", **base, "errorMessage": required_message(f.kind, f.label)}
        if f.min_value is not None:
            el["min"] = f.min_value
        if f.max_value is not None:
            el["max"] = f.max_value
        if f.min_value is not None and f.max_value is not None:
            el["errorMessage"] = f"“{_label(f.label)}” needs a number from {f.min_value:g} to {f.max_value:g}."
        if initial is not None:
            el["value"] = initial
        return el
    if f.kind == "date":
        el = {"type": "Input.Date", **base, "errorMessage": required_message(f.kind, f.label)}
        if initial:
            el["value"] = str(initial)
        return el
    if f.kind == "time":
        el = {"type": "Input.Time", **base, "errorMessage": required_message(f.kind, f.label)}
        if initial:
            el["value"] = str(initial)
        return el
    # checkbox
    el = {
        "type": "Input.Toggle",
        **base,
        "title": plain(f.hint or f.label),
        "valueOn": "true",
        "valueOff": "false",
        "value": "true" if initial else "false",
    }
    if not f.hint:
        del el["label"]  # the title beside the box already says it (Teams showed the words twice)
    el["isRequired"] = False  # an unticked box is an answer, not a missing one
    return el


def form_card(form: Form) -> dict[str, Any]:
    """A form as a card with typed inputs; server-side errors appear next to their fields."""
    body: list[dict[str, Any]] = [_text(md(form.title), weight="Bolder", size="Medium")]
    if form.intro:
        body.append(_text(md(form.intro)))
    known = {f.name for f in form.fields}
    general = [msg for name, msg in form.errors.items() if name not in known]
    body.extend(_text(md(msg), color="Attention") for msg in general)
    for f in form.fields:
        body.append(_input(f))
        if f.hint and f.kind != "checkbox":
            body.append(_text(md(f.hint), isSubtle=True, size="Small", spacing="None"))
        if f.name in form.errors:
            body.append(_text(md(form.errors[f.name]), color="Attention", size="Small", spacing="None"))
    data = _data(
        "f",
        f=form.form_id,
        s=form.state,
        k={f.name: f.kind for f in form.fields},
        r=[f.name for f in form.fields if f.required and f.kind != "checkbox"],
        l={f.name: _label(f.label) for f in form.fields},
    )
    submit = _execute(plain(form.submit_label)[:80], data, Style.primary)
    return card(body, fallback=plain(form.title), actions=[submit])


# ---------------------------------------------------------------- inbound


@dataclass(frozen=True)
class SubmitProblem:
    """A submit we cannot turn into an intent; `text` is fit for the person."""

    text: str


def read_submit(data: Any) -> Action | Submission | SubmitProblem | None:
    """A card submit's data (Action.Submit `value`, Action.Execute `action.data`) as a neutral intent."""
    if not isinstance(data, dict) or not isinstance(data.get("uptake"), dict):
        return None
    meta = data["uptake"]
    kind = meta.get("t")
    if kind == "a":
        return Action(str(meta.get("a", "")), str(meta.get("v", "")))
    if kind == "s":
        choice = data.get(str(meta.get("i", "")))
        if choice in (None, ""):
            return SubmitProblem("Please choose an option first, then press Choose.")
        return Action(str(meta.get("a", "")), str(choice))
    if kind == "f":
        kinds = meta.get("k") if isinstance(meta.get("k"), dict) else {}
        labels = meta.get("l") if isinstance(meta.get("l"), dict) else {}
        required = set(meta.get("r") or [])
        values: dict[str, Any] = {}
        problems: list[str] = []
        for name, field_kind in kinds.items():
            label = str(labels.get(name) or name)
            value, problem = coerce(str(field_kind), data.get(f"f.{name}"), name in required, label)
            if problem:
                problems.append(problem)
            values[name] = value
        if problems:
            return SubmitProblem(" ".join(problems) + " Then press the button again.")
        return Submission(str(meta.get("f", "")), values, str(meta.get("s", "")))
    return None


TEXT_KINDS = ("short_text", "long_text")


def coerce(kind: str, raw: Any, required: bool, label: str = "this field") -> tuple[Any, str | None]:
    """Teams sends every input as a string (multi-select comma-joined); give handlers the field's type.

    An empty required *text* field reaches the capability as "" (as whitespace-only text does from Slack), so its
    own validation message wins and shows next to the field; other kinds cannot be read without a value and get
    the field-specific message the card shows under the input."""
    text = "" if raw is None else str(raw).strip()
    if kind == "checkbox":
        return text.lower() == "true", None
    if not text:
        if required and kind in TEXT_KINDS:
            return "", None
        if required:
            return None, required_message(kind, label)
        return ([] if kind == "multi_select" else None), None
    if kind == "multi_select":
        return [part for part in (p.strip() for p in text.split(",")) if part], None
    if kind == "number":
        try:
            num = float(text)
        except ValueError:
            return None, f"“{label}” needs a number, like 12."
        return (int(num) if num.is_integer() else num), None
    if kind == "date":
        try:
            return dt.date.fromisoformat(text[:10]).isoformat(), None
        except ValueError:
            return None, f"“{label}” needs a date like 2026-11-23."
    if kind == "time":
        try:
            return dt.time.fromisoformat(text[:5]).strftime("%H:%M"), None
        except ValueError:
            return None, f"“{label}” needs a time like 14:30."
    return text, None
