"""A test capability on its own Registry: a form, buttons, a shortcut, a home section, free text."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import handlers.core  # noqa: F401  (help/whoami live in the global registry; the probe copies them)
from bot.context import Ctx
from bot.model import (
    Form,
    FormField,
    Option,
    Reply,
    Request,
    Section,
    lit,
)
from bot.registry import Capability, Registry, registry


@dataclass
class Probe:
    reg: Registry
    filed: list[dict[str, Any]] = field(default_factory=list)
    clicks: list[str] = field(default_factory=list)
    shortcuts: list[tuple[str | None, str | None]] = field(default_factory=list)


FILE_FORM = Form(
    "probe.file",
    "File a probe report with a very long title",
    (
        FormField("title", "Title", max_length=80),
        FormField("body", "What happened", kind="long_text", required=False),
        FormField("severity", "Severity", kind="select", options=(Option("Low", "low"), Option("High", "high"))),
        FormField("count", "How many", kind="number", min_value=1, max_value=10),
        FormField("due", "Due", kind="date", required=False),
        FormField("tags", "Tags", kind="multi_select", required=False, options=(Option("A", "a"), Option("B", "b"))),
        FormField("ok", "Confirmed", kind="checkbox", required=False),
    ),
    state="s-42",
)


def make_probe() -> Probe:
    reg = Registry()
    for spec in registry.commands.values():
        if spec.capability == "core":
            reg.add_command(spec)
    probe = Probe(reg)
    cap = Capability("probe", reg)

    @cap.command("file", help="File a probe report")
    async def file(request: Request, ctx: Ctx) -> Reply:
        return Reply.open(FILE_FORM)

    @cap.form("probe.file")
    async def filed(request: Request, ctx: Ctx) -> Reply:
        values = request.intent.values  # type: ignore[union-attr]
        if values["title"] == "bad":
            return Reply.invalid(FILE_FORM, {"title": "Too vague: say what is slow."})
        probe.filed.append({**values, "_state": request.intent.state})  # type: ignore[union-attr]
        return Reply.say(f"Filed {lit(values['title'])}.")

    @cap.command("echo", help="Repeat")
    async def echo(request: Request, ctx: Ctx) -> Reply:
        return Reply.say(
            f"You said {lit(request.text)}. See [the guide](https://docs.example.com/a?b=1&c=2).",
            Section(user_text=request.text),
        )

    @cap.command("public", help="Say it to everyone")
    async def public(request: Request, ctx: Ctx) -> Reply:
        return Reply.say("Everyone sees this.", private=False)

    @cap.command("long", help="A long answer")
    async def long(request: Request, ctx: Ctx) -> Reply:
        return Reply.say("A long answer.", *[Section(text=f"Part {i}") for i in range(120)])

    @cap.action("probe.ok")
    async def ok(request: Request, ctx: Ctx) -> Reply:
        probe.clicks.append(request.text)
        return Reply.say(f"Clicked {lit(request.text)}.", replace=request.text == "replace")

    @cap.shortcut("friction.report_message", "Report friction")
    async def shortcut(request: Request, ctx: Ctx) -> Reply:
        probe.shortcuts.append((request.source_text, request.source_link))
        return Reply.open(Form("probe.file", "Report friction", FILE_FORM.fields, state=request.source_link or ""))

    @cap.home(order=1)
    async def home(ctx: Ctx) -> list[Section]:
        return [Section(heading="Probe", text=f"Hello {lit(ctx.person.display_name)}")]

    @cap.free_text
    async def free(request: Request, ctx: Ctx) -> Reply:
        return Reply.say(f"Free text: {lit(request.text)}")

    return probe
