"""The neutral conversation vocabulary: one inbound Request, one outbound Reply.

Handlers speak only this module; adapters translate it to and from Slack, Teams and the terminal.
Text that came from a person is carried as plain strings and escaped by the renderer, never here, so
every adapter can apply its own platform's escaping exactly once.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field
from typing import Any, Literal


class Role(enum.IntEnum):
    """Roles per rollout, ordered so that a higher role includes what a lower one may do."""

    employee = 1
    champion = 2
    change_lead = 3
    admin = 4

    @classmethod
    def parse(cls, text: str) -> Role:
        key = text.strip().lower().replace("-", "_").replace(" ", "_")
        aliases = {"lead": "change_lead", "changelead": "change_lead", "owner": "change_lead"}
        key = aliases.get(key, key)
        try:
            return cls[key]
        except KeyError:
            names = ", ".join(r.label for r in cls)
            raise ValueError(f"Unknown role '{text}'. Roles are: {names}.") from None

    @property
    def label(self) -> str:
        return self.name.replace("_", "-")


class Where(enum.StrEnum):
    """Where a request was made; decides whether a reply may be public."""

    direct = "direct"
    channel = "channel"
    thread = "thread"


@dataclass(frozen=True)
class Identity:
    """A platform identity: who someone is on one platform (the key to their person record)."""

    platform: str  # "slack" | "teams" | "console"
    workspace: str  # Slack team id, Teams tenant id, "local" for the console
    user_id: str
    display_name: str = ""
    timezone: str | None = None
    locale: str | None = None
    team: str | None = None  # department from a profile field, when the platform gives one


@dataclass(frozen=True)
class Place:
    """The conversation a request came from (and where a public reply goes)."""

    where: Where = Where.direct
    channel_id: str | None = None
    thread_id: str | None = None
    message_id: str | None = None  # the message a button was clicked on, for "replace"


@dataclass(frozen=True)
class Command:
    word: str
    args: str = ""


@dataclass(frozen=True)
class Text:
    """Free text: a DM, an @mention with the mention stripped."""

    text: str


@dataclass(frozen=True)
class Action:
    """A button click or a select choice."""

    action_id: str
    value: str = ""


@dataclass(frozen=True)
class Submission:
    """A submitted form: values already coerced to the field types."""

    form_id: str
    values: dict[str, Any]
    state: str = ""  # opaque state the handler put on the form (e.g. the id being edited)


@dataclass(frozen=True)
class Shortcut:
    """A message shortcut (Slack) / message action (Teams) used on an existing message.

    The message's text and link travel in `Request.source_text` / `Request.source_link`.
    """

    shortcut_id: str


Intent = Command | Text | Action | Submission | Shortcut


@dataclass(frozen=True)
class Request:
    """One inbound thing a person did, on any platform."""

    identity: Identity
    intent: Intent
    place: Place = field(default_factory=Place)
    event_id: str | None = None  # platform idempotency key (Slack event_id, Teams activity id, …)
    source_text: str | None = None  # the message a shortcut was used on
    source_link: str | None = None
    received_at: dt.datetime | None = None

    @property
    def text(self) -> str:
        """The free text or command arguments, whichever this request carries."""
        if isinstance(self.intent, Text):
            return self.intent.text
        if isinstance(self.intent, Command):
            return self.intent.args
        if isinstance(self.intent, Action):
            return self.intent.value
        return ""


# ---------------------------------------------------------------- outbound


class Style(enum.StrEnum):
    default = "default"
    primary = "primary"
    danger = "danger"


@dataclass(frozen=True)
class Confirm:
    title: str
    text: str
    yes: str = "Yes"
    no: str = "Cancel"


@dataclass(frozen=True)
class Button:
    label: str
    action_id: str
    value: str = ""
    style: Style = Style.default
    confirm: Confirm | None = None
    url: str | None = None  # a link button (Uptake's own URLs only)


@dataclass(frozen=True)
class Option:
    label: str
    value: str
    description: str | None = None


@dataclass(frozen=True)
class Select:
    """A menu whose choice routes back as an Action with the chosen value."""

    label: str
    action_id: str
    options: tuple[Option, ...]
    placeholder: str = "Choose…"
    initial: str | None = None


@dataclass(frozen=True)
class Fact:
    label: str
    value: str


@dataclass(frozen=True)
class Section:
    """A block of text: `text` may use the safe subset (*bold*, _italic_, `code`, bullet lines starting '• ')
    written by Uptake itself; `user_text` is person-provided and always shown literally (escaped)."""

    text: str = ""
    heading: str | None = None
    facts: tuple[Fact, ...] = ()
    user_text: str | None = None
    buttons: tuple[Button, ...] = ()
    select: Select | None = None


@dataclass(frozen=True)
class Context:
    """A quiet line (source, confidence, timestamps)."""

    text: str


@dataclass(frozen=True)
class Divider:
    pass


@dataclass(frozen=True)
class Actions:
    buttons: tuple[Button, ...] = ()
    select: Select | None = None


Block = Section | Context | Divider | Actions

FieldKind = Literal["short_text", "long_text", "select", "multi_select", "number", "date", "time", "checkbox"]


@dataclass(frozen=True)
class FormField:
    name: str
    label: str
    kind: FieldKind = "short_text"
    required: bool = True
    hint: str | None = None
    options: tuple[Option, ...] = ()
    initial: Any = None
    max_length: int | None = None
    min_value: float | None = None
    max_value: float | None = None
    placeholder: str | None = None


@dataclass(frozen=True)
class Form:
    """A form: Slack shows a modal, Teams a card with inputs, the console asks field by field."""

    form_id: str
    title: str
    fields: tuple[FormField, ...]
    submit_label: str = "Submit"
    intro: str | None = None
    state: str = ""
    errors: dict[str, str] = field(default_factory=dict)  # field name -> message (server-side validation)


@dataclass(frozen=True)
class Message:
    """What Uptake says: a plain `text` (notification fallback, screen readers) plus blocks."""

    text: str
    blocks: tuple[Block, ...] = ()


@dataclass(frozen=True)
class Reply:
    """The handler's answer to a request.

    `private`: only the asker sees it (Slack ephemeral / DM; Teams replies in the personal chat).
    `replace`: update the message whose button was clicked instead of posting a new one.
    `form`: open a form (or re-show it with `errors`); `message` may accompany it.
    """

    message: Message | None = None
    form: Form | None = None
    private: bool = True
    replace: bool = False
    follow_ups: tuple[Message, ...] = ()  # further messages in the same conversation (long content)

    @classmethod
    def say(cls, text: str, *blocks: Block, private: bool = True, replace: bool = False) -> Reply:
        return cls(message=Message(text=text, blocks=tuple(blocks)), private=private, replace=replace)

    @classmethod
    def open(cls, form: Form) -> Reply:
        return cls(form=form)

    @classmethod
    def invalid(cls, form: Form, errors: dict[str, str]) -> Reply:
        """Re-show a form with per-field errors; nothing was stored."""
        return cls(form=Form(**{**form.__dict__, "errors": errors}))

    @classmethod
    def nothing(cls) -> Reply:
        return cls()

    @property
    def text(self) -> str:
        """All human-visible text of the reply, for tests and the console."""
        parts: list[str] = []
        if self.message:
            parts.append(message_text(self.message))
        if self.form:
            parts.append(self.form.title)
            if self.form.intro:
                parts.append(self.form.intro)
            parts.extend(self.form.errors.values())
        parts.extend(message_text(m) for m in self.follow_ups)
        return plain("\n".join(p for p in parts if p))

    def buttons(self) -> list[Button]:
        found: list[Button] = []
        for msg in ([self.message] if self.message else []) + list(self.follow_ups):
            for block in msg.blocks:
                if isinstance(block, Section | Actions):
                    found.extend(block.buttons)
        return found

    def has_button(self, label: str) -> bool:
        return any(label.lower() in b.label.lower() for b in self.buttons())

    def button(self, label: str) -> Button:
        for b in self.buttons():
            if label.lower() in b.label.lower():
                return b
        raise LookupError(f"no button like {label!r} in {[b.label for b in self.buttons()]}")


def message_text(msg: Message) -> str:
    """Flatten a message to text (fallback, console, tests)."""
    parts = [msg.text]
    for block in msg.blocks:
        if isinstance(block, Section):
            if block.heading:
                parts.append(block.heading)
            if block.text:
                parts.append(block.text)
            if block.user_text:
                parts.append(block.user_text)
            parts.extend(f"{f.label}: {f.value}" for f in block.facts)
        elif isinstance(block, Context):
            parts.append(block.text)
    return plain("\n".join(p for p in parts if p))


LIT_OPEN, LIT_CLOSE = "\ue000", "\ue001"


def lit(text: object) -> str:
    """Mark person-provided text inside Uptake's own text: renderers show it literally, escaped for the platform.

    The markers are private-use characters; inbound text is stripped of them, so nobody can forge one.
    """
    s = str(text).replace(LIT_OPEN, "").replace(LIT_CLOSE, "")
    return f"{LIT_OPEN}{s}{LIT_CLOSE}"


def segments(text: str) -> list[tuple[bool, str]]:
    """Split text into (is_person_text, chunk) pieces for a renderer."""
    out: list[tuple[bool, str]] = []
    rest = text
    while rest:
        start = rest.find(LIT_OPEN)
        if start < 0:
            out.append((False, rest))
            break
        if start:
            out.append((False, rest[:start]))
        end = rest.find(LIT_CLOSE, start + 1)
        if end < 0:
            out.append((True, rest[start + 1 :]))
            break
        out.append((True, rest[start + 1 : end]))
        rest = rest[end + 1 :]
    return out


def plain(text: str) -> str:
    """Text without the person-text markers (console, tests, logs)."""
    return text.replace(LIT_OPEN, "").replace(LIT_CLOSE, "")


class UserError(Exception):
    """A domain error whose message is fit to show the person as it is."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
