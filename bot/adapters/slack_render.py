"""Render the neutral Reply model as Slack Block Kit (slack_sdk block models), escaped and within limits.

Escaping (platform-rules R24): Slack parses `<…>` in mrkdwn as mentions and links, so every `&`, `<` and `>` is
escaped, in person text and in Uptake's own text alike. Uptake's own text may then use *bold*, _italic_, `code`,
bullets and Markdown links `[title](https://…)`, which become `<url|title>`; person text (`lit()` segments and
`Section.user_text`) is never converted, so nobody can plant a ping or a disguised link through Uptake.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

from slack_sdk.models.basic_objects import EMPTY_ALLOWED_TYPE_AND_PROPERTY_LIST, JsonObject
from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    CheckboxesElement,
    ConfirmObject,
    ContextBlock,
    DatePickerElement,
    DividerBlock,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    NumberInputElement,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
    StaticMultiSelectElement,
    StaticSelectElement,
    TimePickerElement,
)
from slack_sdk.models.views import View

from bot.adapters import slack_limits as lim
from bot.model import (
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
    plain,
    segments,
)
from bot.model import Option as NeutralOption

_LINK = re.compile(r"\[([^\]\n]{1,200})\]\((https?://[^\s()<>|]{1,2000})\)")
DUP_MARK = "~"  # suffix that keeps action ids unique within one block; stripped again on the way in


# ---------------------------------------------------------------- slack_sdk models → dicts

_EMPTY_ALLOWED = {(e["type"], e["property"]) for e in EMPTY_ALLOWED_TYPE_AND_PROPERTY_LIST}
_BASE = (
    JsonObject.to_dict,
    JsonObject.validate_json,
    JsonObject.get_non_null_attributes,
    JsonObject.get_object_attribute,
)


@functools.cache
def _validators(cls: type) -> tuple[str, ...]:
    """The @JsonValidator methods of a model class: what JsonObject.validate_json looks up with dir() on every
    object it converts (≈ 70 % of the rendering time of a reply), found once per class instead."""
    found = []
    for name in dir(cls):
        attr = getattr(cls, name, None)
        if not name.startswith("__") and callable(attr) and hasattr(attr, "validator"):
            found.append(name)
    return tuple(found)


def as_dict(obj: JsonObject) -> dict[str, Any]:
    """`obj.to_dict()`: the same dict and the same validation (SlackObjectFormationError), cheaper. Classes that
    bring their own to_dict (Option, ConfirmObject, …) use it; the others run their validators and drop empty
    attributes as JsonObject.to_dict does (tests/slack/test_render.py compares the two on every kind we render)."""
    cls = type(obj)
    if (cls.to_dict, cls.validate_json, cls.get_non_null_attributes, cls.get_object_attribute) != _BASE:
        return obj.to_dict()
    for name in _validators(cls):
        getattr(obj, name)()
    kind = getattr(obj, "type", None)
    out: dict[str, Any] = {}
    for key in sorted(obj.attributes):
        value = getattr(obj, key, None)
        if value is None or ((kind, key) not in _EMPTY_ALLOWED and hasattr(value, "__len__") and not len(value)):
            continue
        out[key] = _plain(value)
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, JsonObject):
        return as_dict(value)
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return {k: _plain(v) for k, v in to_dict().items()}
    return value


def escape(text: str) -> str:
    """Slack's three entities, nothing else (double escaping would show `&amp;amp;`)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mrkdwn(text: str) -> str:
    """Uptake text (with lit() person segments) → safe mrkdwn."""
    out: list[str] = []
    for is_person, chunk in segments(text):
        if is_person:
            out.append(escape(chunk))
            continue
        pos = 0
        for m in _LINK.finditer(chunk):
            out.append(escape(chunk[pos : m.start()]))
            out.append(f"<{escape(m.group(2))}|{escape(m.group(1)).replace('|', '¦')}>")
            pos = m.end()
        out.append(escape(chunk[pos:]))
    return "".join(out)


def plain_text(text: str, limit: int) -> PlainTextObject:
    """plain_text is not parsed for mentions; only the markers go."""
    return PlainTextObject(text=lim.clip(plain(text).strip() or " ", limit), emoji=True)


# ---------------------------------------------------------------- messages


def render_blocks(blocks: tuple[Block, ...] | list[Block]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for block in blocks:
        if isinstance(block, Section):
            out.extend(_section(block))
        elif isinstance(block, Context):
            for piece in lim.split_text(mrkdwn(block.text), lim.CONTEXT_TEXT):
                if piece.strip():
                    out.append(as_dict(ContextBlock(elements=[MarkdownTextObject(text=piece)])))
        elif isinstance(block, Divider):
            out.append(as_dict(DividerBlock()))
        elif isinstance(block, Actions):
            out.extend(_actions(block.buttons, block.select))
    return out


def _section(s: Section) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if s.heading:
        out.append(as_dict(HeaderBlock(text=plain_text(s.heading, lim.HEADER_TEXT))))
    if s.text:
        out.extend(
            as_dict(SectionBlock(text=MarkdownTextObject(text=p))) for p in lim.split_text(mrkdwn(s.text)) if p.strip()
        )
    if s.user_text:
        # verbatim: Slack must not auto-link channel names or URLs in what a person wrote.
        quoted = "\n".join("> " + line if line else ">" for line in escape(plain(s.user_text)).splitlines())
        out.extend(
            as_dict(SectionBlock(text=MarkdownTextObject(text=p, verbatim=True)))
            for p in lim.split_text(quoted)
            if p.strip()
        )
    fields = [
        MarkdownTextObject(text=lim.clip(f"*{mrkdwn(f.label)}*\n{mrkdwn(f.value)}", lim.FIELD_TEXT)) for f in s.facts
    ]
    for i in range(0, len(fields), lim.FIELDS):
        out.append(as_dict(SectionBlock(fields=fields[i : i + lim.FIELDS])))
    out.extend(_actions(s.buttons, s.select))
    return out


def _actions(buttons: tuple[Button, ...], select: Select | None) -> list[dict[str, Any]]:
    elements: list[Any] = []
    seen: dict[str, int] = {}
    for b in buttons:
        elements.append(_button(b, seen))
    if select is not None and select.options:
        elements.append(_select(select, seen))
    return [
        as_dict(ActionsBlock(elements=elements[i : i + lim.ACTIONS_ELEMENTS]))
        for i in range(0, len(elements), lim.ACTIONS_ELEMENTS)
    ]


def _unique_id(action_id: str, seen: dict[str, int]) -> str:
    action_id = action_id[: lim.ACTION_ID - 4]
    n = seen.get(action_id, 0)
    seen[action_id] = n + 1
    return action_id if n == 0 else f"{action_id}{DUP_MARK}{n}"


def _button(b: Button, seen: dict[str, int]) -> ButtonElement:
    confirm = None
    if b.confirm is not None:
        confirm = ConfirmObject(
            title=lim.clip(plain(b.confirm.title), lim.CONFIRM_TITLE),
            text=MarkdownTextObject(text=lim.clip(mrkdwn(b.confirm.text), lim.CONFIRM_TEXT)),
            confirm=lim.clip(plain(b.confirm.yes), lim.CONFIRM_BUTTON),
            deny=lim.clip(plain(b.confirm.no), lim.CONFIRM_BUTTON),
        )
    return ButtonElement(
        text=plain_text(b.label, lim.BUTTON_TEXT),
        action_id=_unique_id(b.action_id, seen),
        value=b.value[: lim.BUTTON_VALUE] if b.value else None,
        style=b.style.value if b.style in (Style.primary, Style.danger) else None,
        confirm=confirm,
        url=b.url,
    )


def _option(o: NeutralOption) -> Option:
    desc = plain_text(o.description, lim.OPTION_TEXT) if o.description else None
    return Option(value=o.value[: lim.OPTION_VALUE], text=plain_text(o.label, lim.OPTION_TEXT), description=desc)


def _select(s: Select, seen: dict[str, int]) -> StaticSelectElement:
    options = [_option(o) for o in s.options[: lim.OPTIONS]]
    initial = next((o for o, n in zip(options, s.options, strict=False) if n.value == s.initial), None)
    return StaticSelectElement(
        placeholder=plain_text(s.placeholder or s.label, lim.PLACEHOLDER),
        action_id=_unique_id(s.action_id, seen),
        options=options,
        initial_option=initial,
    )


def render_message(msg: Message) -> list[dict[str, Any]]:
    """One neutral message → one or more Slack message payloads (`text` fallback + `blocks`)."""
    blocks = render_blocks(msg.blocks)
    text = lim.clip(mrkdwn(msg.text), lim.FALLBACK_TEXT) if msg.text else ""
    if not blocks:
        parts = lim.split_text(mrkdwn(msg.text)) if msg.text else []
        blocks = [as_dict(SectionBlock(text=MarkdownTextObject(text=p))) for p in parts if p.strip()]
        if not blocks:
            return [{"text": text or " "}]
    chunks = lim.split_message(blocks)
    return [{"text": text if i == 0 else "(continued)", "blocks": chunk} for i, chunk in enumerate(chunks)]


# ---------------------------------------------------------------- forms and home

_ELEMENT_KIND = {
    "plain_text_input": "short_text",
    "number_input": "number",
    "datepicker": "date",
    "timepicker": "time",
    "static_select": "select",
    "multi_static_select": "multi_select",
    "checkboxes": "checkbox",
}
VALUE_ACTION = "value"


def _input(f: FormField) -> InputBlock:
    placeholder = plain_text(f.placeholder, lim.PLACEHOLDER) if f.placeholder else None
    element: Any
    initial = f.initial
    if f.kind in ("short_text", "long_text"):
        max_len = min(f.max_length or lim.INPUT_MAX_LENGTH, lim.INPUT_MAX_LENGTH)
        element = PlainTextInputElement(
            action_id=VALUE_ACTION,
            placeholder=placeholder,
            initial_value=plain(str(initial))[:max_len] if initial not in (None, "") else None,
            multiline=f.kind == "long_text",
            max_length=max_len,
        )
    elif f.kind in ("select", "multi_select"):
        options = [_option(o) for o in f.options[: lim.OPTIONS]] or [Option(value="-", text=plain_text("—", 75))]
        wanted = set(initial if isinstance(initial, list | tuple) else [initial])
        chosen = [o for o, n in zip(options, f.options, strict=False) if n.value in wanted]
        ph = placeholder or plain_text("Choose…", lim.PLACEHOLDER)
        if f.kind == "select":
            element = StaticSelectElement(
                action_id=VALUE_ACTION, placeholder=ph, options=options, initial_option=chosen[0] if chosen else None
            )
        else:
            element = StaticMultiSelectElement(
                action_id=VALUE_ACTION, placeholder=ph, options=options, initial_options=chosen or None
            )
    elif f.kind == "number":
        element = NumberInputElement(
            action_id=VALUE_ACTION,
            is_decimal_allowed=True,
            initial_value=str(initial) if initial is not None else None,
            min_value=f"{f.min_value:g}" if f.min_value is not None else None,
            max_value=f"{f.max_value:g}" if f.max_value is not None else None,
            placeholder=placeholder,
        )
    elif f.kind == "date":
        element = DatePickerElement(action_id=VALUE_ACTION, initial_date=initial or None, placeholder=placeholder)
    elif f.kind == "time":
        element = TimePickerElement(action_id=VALUE_ACTION, initial_time=initial or None, placeholder=placeholder)
    else:  # checkbox
        yes = Option(value="yes", text=plain_text(f.label, lim.OPTION_TEXT))
        element = CheckboxesElement(action_id=VALUE_ACTION, options=[yes], initial_options=[yes] if initial else None)
    return InputBlock(
        block_id=f.name[:255],
        label=plain_text(f.label, lim.LABEL),
        element=element,
        optional=not f.required,
        hint=plain_text(f.hint, lim.HINT) if f.hint else None,
    )


def form_metadata(form: Form, answer_in: dict[str, str]) -> str:
    """What a submission needs to become a neutral Submission again, and where to answer (≤3000 chars).

    Field kinds are dropped first when the state is long (they can be read back from the element types)."""
    data: dict[str, Any] = {"f": form.form_id, "s": form.state, "k": {f.name: f.kind for f in form.fields}}
    data.update(answer_in)
    text = json.dumps(data, separators=(",", ":"))
    if len(text) > lim.PRIVATE_METADATA:
        data.pop("k")
        text = json.dumps(data, separators=(",", ":"))
    if len(text) > lim.PRIVATE_METADATA:
        raise ValueError(f"form {form.form_id}: state too long for Slack's private_metadata ({len(text)} chars)")
    return text


def render_form(form: Form, answer_in: dict[str, str]) -> dict[str, Any]:
    """A neutral Form → a modal view (errors, when present, are shown under their fields)."""
    blocks: list[dict[str, Any]] = []
    if form.intro:
        blocks.extend(render_blocks([Section(text=form.intro)]))
    names = {f.name for f in form.fields}
    stray = [msg for name, msg in form.errors.items() if name not in names]
    if stray:
        blocks.append(
            as_dict(ContextBlock(elements=[MarkdownTextObject(text=lim.clip(mrkdwn(" ".join(stray)), 3000))]))
        )
    for f in form.fields:
        blocks.append(as_dict(_input(f)))
        if f.name in form.errors:
            note = lim.clip("⚠️ " + mrkdwn(form.errors[f.name]), lim.CONTEXT_TEXT)
            blocks.append(as_dict(ContextBlock(elements=[MarkdownTextObject(text=note)])))
    view = View(
        type="modal",
        callback_id=form.form_id[:255],
        title=plain_text(form.title, lim.MODAL_TITLE),
        submit=plain_text(form.submit_label, lim.MODAL_BUTTON),
        close=plain_text("Cancel", lim.MODAL_BUTTON),
        private_metadata=form_metadata(form, answer_in),
        blocks=lim.fit_view(blocks) or [as_dict(DividerBlock())],
    )
    return as_dict(view)


def inline_errors(form: Form) -> dict[str, str]:
    """`response_action: errors` payload: messages keyed by block id (unknown names go to the first field)."""
    names = [f.name for f in form.fields]
    errors: dict[str, str] = {}
    for name, msg in form.errors.items():
        key = name if name in names else (names[0] if names else name)
        errors[key] = lim.clip(plain(msg), lim.HINT) if key not in errors else errors[key]
    return errors


def render_home(blocks: list[Block]) -> dict[str, Any]:
    rendered = render_blocks(blocks) or [lim.more_block("Nothing here yet.")]
    return {"type": "home", "blocks": lim.fit_view(rendered)}


def element_kind(element_type: str, multiline: bool = False) -> str:
    kind = _ELEMENT_KIND.get(element_type, "short_text")
    return "long_text" if kind == "short_text" and multiline else kind
