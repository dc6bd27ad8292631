"""The console adapter: chat with Uptake in a terminal through the same router and handlers.

Buttons are numbered (type the number to click), forms are asked field by field with validation.
When stdin is not a terminal it reads one line per turn, so scripts and tests can drive it.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from bot.model import (
    Action,
    Actions,
    Button,
    Context,
    Divider,
    Form,
    FormField,
    Identity,
    Message,
    Reply,
    Request,
    Section,
    Select,
    Submission,
    Text,
    plain,
)
from bot.runtime import Runtime

_ids = itertools.count(1)


def render_message(msg: Message, choices: list[Button | tuple[Select, str]]) -> str:
    """Plain text for a terminal; appends clickable things to `choices` and numbers them."""
    lines: list[str] = []
    if msg.text and not any(isinstance(b, Section) and b.text == msg.text for b in msg.blocks):
        lines.append(plain(msg.text))
    for block in msg.blocks:
        if isinstance(block, Section):
            if block.heading:
                lines.append(f"== {plain(block.heading)} ==")
            if block.text:
                lines.append(plain(block.text))
            if block.user_text:
                lines.extend("  > " + line for line in plain(block.user_text).splitlines())
            lines.extend(f"  {plain(f.label)}: {plain(f.value)}" for f in block.facts)
            lines.extend(_buttons(block.buttons, block.select, choices))
        elif isinstance(block, Context):
            lines.append(f"  ({plain(block.text)})")
        elif isinstance(block, Divider):
            lines.append("-" * 40)
        elif isinstance(block, Actions):
            lines.extend(_buttons(block.buttons, block.select, choices))
    return "\n".join(lines)


def _buttons(buttons: tuple[Button, ...], select: Select | None, choices: list[Any]) -> list[str]:
    out: list[str] = []
    for b in buttons:
        if b.url:
            out.append(f"  [link] {plain(b.label)}: {b.url}")
            continue
        choices.append(b)
        out.append(f"  [{len(choices)}] {plain(b.label)}")
    if select is not None:
        out.append(f"  {plain(select.label)}:")
        for opt in select.options:
            choices.append((select, opt.value))
            out.append(f"  [{len(choices)}] {plain(opt.label)}")
    return out


def coerce(field: FormField, raw: str) -> tuple[Any, str | None]:
    """Turn typed input into the field's type; returns (value, error)."""
    raw = raw.strip()
    if not raw:
        if field.required:
            return None, "This field is required."
        return ([] if field.kind == "multi_select" else None), None
    if field.max_length and len(raw) > field.max_length:
        return None, f"Please keep it under {field.max_length} characters (you wrote {len(raw)})."
    if field.kind in ("short_text", "long_text"):
        return raw, None
    if field.kind in ("select", "multi_select"):
        picked: list[str] = []
        for part in raw.split(","):
            part = part.strip()
            opt = None
            if part.isdigit() and 1 <= int(part) <= len(field.options):
                opt = field.options[int(part) - 1]
            else:
                opt = next((o for o in field.options if part.lower() in (o.value.lower(), o.label.lower())), None)
            if opt is None:
                return None, f"Choose one of the numbers 1-{len(field.options)}."
            picked.append(opt.value)
        if field.kind == "select":
            return (picked[0], None) if len(picked) == 1 else (None, "Choose just one.")
        return picked, None
    if field.kind == "number":
        try:
            num = float(raw)
        except ValueError:
            return None, "Please type a number."
        if field.min_value is not None and num < field.min_value:
            return None, f"At least {field.min_value:g}, please."
        if field.max_value is not None and num > field.max_value:
            return None, f"At most {field.max_value:g}, please."
        return (int(num) if num.is_integer() else num), None
    if field.kind == "date":
        try:
            return dt.date.fromisoformat(raw).isoformat(), None
        except ValueError:
            return None, "Please use YYYY-MM-DD."
    if field.kind == "time":
        try:
            return dt.time.fromisoformat(raw).strftime("%H:%M"), None
        except ValueError:
            return None, "Please use HH:MM (24 hours)."
    if field.kind == "checkbox":
        low = raw.lower()
        if low in ("y", "yes", "true", "1", "on"):
            return True, None
        if low in ("n", "no", "false", "0", "off"):
            return False, None
        return None, "Please answer yes or no."
    return raw, None


class ConsoleChat:
    """One person's terminal conversation."""

    def __init__(
        self,
        rt: Runtime,
        identity: Identity,
        *,
        out: TextIO = sys.stdout,
        read: Callable[[str], str | None] | None = None,
    ) -> None:
        self.rt = rt
        self.identity = identity
        self.out = out
        self._read = read or _stdin_reader()
        self.choices: list[Button | tuple[Select, str]] = []

    def say(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def read(self, prompt: str) -> str | None:
        return self._read(prompt)

    async def turn(self, line: str) -> Reply | None:
        """Handle one typed line: a number clicks a shown button, anything else is a message."""
        from bot.router import handle

        line = line.strip()
        if line.isdigit() and self.choices and 1 <= int(line) <= len(self.choices):
            choice = self.choices[int(line) - 1]
            if isinstance(choice, Button):
                intent: Any = Action(choice.action_id, choice.value)
            else:
                intent = Action(choice[0].action_id, choice[1])
        else:
            intent = Text(line)
        reply = await handle(
            self.rt,
            Request(
                identity=self.identity,
                intent=intent,
                event_id=f"console:{self.identity.user_id}:{next(_ids)}:{id(self)}",
            ),
        )
        await self.show(reply)
        return reply

    async def show(self, reply: Reply) -> None:
        from bot.router import handle

        if reply.message or reply.follow_ups:
            self.choices = []
        for msg in ([reply.message] if reply.message else []) + list(reply.follow_ups):
            self.say(render_message(msg, self.choices))
        form = reply.form
        while form is not None:
            values = self.ask_form(form)
            if values is None:
                self.say("(form cancelled; nothing was saved)")
                return
            reply = await handle(
                self.rt, Request(identity=self.identity, intent=Submission(form.form_id, values, form.state))
            )
            if reply.form is not None and reply.form.errors:
                form = reply.form
                continue
            await self.show(reply)
            return

    def ask_form(self, form: Form) -> dict[str, Any] | None:
        self.say(f"== {plain(form.title)} ==")
        if form.intro:
            self.say(plain(form.intro))
        values: dict[str, Any] = {}
        for f in form.fields:
            err = form.errors.get(f.name)
            if err:
                self.say(f"  ! {plain(err)}")
            while True:
                label = plain(f.label) + ("" if f.required else " (optional)")
                if f.hint:
                    self.say(f"  ({plain(f.hint)})")
                for i, o in enumerate(f.options, 1):
                    self.say(f"    {i}. {plain(o.label)}")
                if f.initial not in (None, "", []):
                    label += f" [{f.initial}]"
                raw = self.read(f"{label}: ")
                if raw is None:
                    return None
                if not raw.strip() and f.initial not in (None, "", []):
                    values[f.name] = f.initial
                    break
                value, problem = coerce(f, raw)
                if problem:
                    self.say(f"  ! {problem}")
                    continue
                values[f.name] = value
                break
        return values


def _stdin_reader() -> Callable[[str], str | None]:
    interactive = sys.stdin.isatty()

    def read(prompt: str) -> str | None:
        if interactive:
            try:
                return input(prompt)
            except EOFError:
                return None
        sys.stdout.write(prompt)
        line = sys.stdin.readline()
        if not line:
            return None
        sys.stdout.write(line if line.endswith("\n") else line + "\n")
        return line.rstrip("\n")

    return read


async def run_chat(rt: Runtime, identity: Identity) -> None:
    chat = ConsoleChat(rt, identity)
    if sys.stdin.isatty():
        chat.say(f"Uptake console — you are {identity.display_name}. Type `help`, a question, or `quit`.")
    sender = ConsoleSender(rt.settings.data_dir)
    _, seen = sender.read_new(identity.user_id, 0)
    while True:
        news, seen = sender.read_new(identity.user_id, seen)
        for msg in news:
            chat.say("📬 " + render_message(msg, chat.choices))
        line = chat.read("you> ")
        if line is None or line.strip().lower() in ("quit", "exit"):
            break
        if not line.strip():
            continue
        await chat.turn(line)


class ConsoleSender:
    """Delivers outbox messages for console identities into a per-person inbox file that `uptake chat` shows.

    This is what makes notifications (answers to escalated questions, report updates) visible without Slack or
    Teams: run `uptake serve` in one terminal and `uptake chat` in another.
    """

    platform = "console"

    def __init__(self, data_dir: Path) -> None:
        self.dir = Path(data_dir) / "console-inbox"

    def inbox(self, user_id: str) -> Path:
        safe = "".join(ch for ch in user_id if ch.isalnum() or ch in "-_.") or "_"
        return self.dir / f"{safe}.jsonl"

    async def send_to_person(self, identity: Identity, message: Message, *, ref: str | None = None) -> str:
        from bot.codec import dump_message

        self.dir.mkdir(parents=True, exist_ok=True)
        msg_id = f"console-{ref or next(_ids)}"
        line = json.dumps({"id": msg_id, "message": dump_message(message)})
        with self.inbox(identity.user_id).open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")
        return msg_id

    async def send_to_channel(
        self, workspace: str, channel_id: str, message: Message, *, ref: str | None = None
    ) -> str:
        return await self.send_to_person(Identity("console", workspace, f"channel-{channel_id}"), message, ref=ref)

    def read_new(self, user_id: str, seen: int) -> tuple[list[Message], int]:
        """Messages after the first `seen` lines of the inbox, and the new count."""
        from bot.codec import load_message

        path = self.inbox(user_id)
        if not path.exists():
            return [], seen
        lines = path.read_text(encoding="utf-8").splitlines()
        return [load_message(json.loads(line)["message"]) for line in lines[seen:]], len(lines)
