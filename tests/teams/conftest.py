"""The Teams adapter's tests run against a small probe capability in its own registry, so they exercise every
neutral shape (buttons, selects, forms with every field kind, replace, long content, shortcuts, notifications)
without depending on, or changing, other capabilities' handlers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.clock import FrozenClock
from bot.context import Ctx
from bot.db import Database
from bot.model import (
    Button,
    Fact,
    Form,
    FormField,
    Message,
    Option,
    Reply,
    Request,
    Section,
    Select,
    Shortcut,
    Submission,
    lit,
)
from bot.registry import Capability, Registry
from bot.runtime import Runtime
from tests.conftest import make_settings

SURVEY = Form(
    form_id="probe.survey",
    title="Pilot check-in",
    intro="Two minutes, promise.",
    fields=(
        FormField("title", "What slowed you down?", "short_text", max_length=80),
        FormField("details", "Details", "long_text", required=False, max_length=2000),
        FormField("tool", "Which step", "select", options=(Option("Intake", "intake"), Option("Review", "review"))),
        FormField("areas", "Areas", "multi_select", required=False, options=(Option("A", "a"), Option("B", "b"))),
        FormField("minutes", "Minutes lost", "number", min_value=0, max_value=480),
        FormField("day", "When", "date", required=False),
        FormField("at", "Time", "time", required=False),
        FormField("anonymous", "Stay anonymous", "checkbox", required=False),
    ),
    state="rollout-1",
)


def probe_registry() -> Registry:
    reg = Registry()
    probe = Capability("probe", reg)

    @probe.command("vote", help="Vote on the pilot")
    async def vote(request: Request, ctx: Ctx) -> Reply:
        buttons = (Button("Yes", "probe.vote", "yes"), Button("No", "probe.vote", "no"))
        return Reply.say("Keep the pilot going?", Section(text="Keep the pilot going?", buttons=buttons))

    @probe.action("probe.vote")
    async def voted(request: Request, ctx: Ctx) -> Reply:
        return Reply.say(f"You voted *{request.text}*.", replace=True)

    @probe.command("pick", help="Pick a step")
    async def pick(request: Request, ctx: Ctx) -> Reply:
        options = (Option("Intake", "intake"), Option("Review", "review"))
        return Reply.say("Pick a step", Section(text="Which step?", select=Select("Step", "probe.pick", options)))

    @probe.action("probe.pick")
    async def picked(request: Request, ctx: Ctx) -> Reply:
        return Reply.say(f"You picked *{lit(request.text)}*.")

    @probe.command("survey", help="Open the check-in form")
    async def survey(request: Request, ctx: Ctx) -> Reply:
        return Reply.open(SURVEY)

    @probe.form("probe.survey")
    async def survey_done(request: Request, ctx: Ctx) -> Reply:
        assert isinstance(request.intent, Submission)
        values = request.intent.values
        if not values["title"]:
            return Reply.invalid(SURVEY, {"title": "Tell us what slowed you down, even a word helps."})
        if values["title"].lower() == "bad":
            return Reply.invalid(SURVEY, {"title": "Please describe it in a few words."})
        facts = tuple(Fact(k, lit(repr(v))) for k, v in sorted(values.items()))
        return Reply.say(
            f"Thanks, saved {lit(values['title'])} (state {request.intent.state}).",
            Section(text="Saved", facts=facts),
            replace=True,
        )

    @probe.command("echo", help="Repeat what you said")
    async def echo(request: Request, ctx: Ctx) -> Reply:
        return Reply.say(f"You said {lit(request.text)}", Section(heading="Your words", user_text=request.text))

    @probe.command("long", help="A long list")
    async def long(request: Request, ctx: Ctx) -> Reply:
        facts = tuple(Fact(f"Item {i}", lit(f"friction report number {i} " + "x" * 60)) for i in range(500))
        return Reply.say("All open reports", Section(heading="Open reports", facts=facts))

    @probe.command("notify", help="Queue a note to myself")
    async def notify(request: Request, ctx: Ctx) -> Reply:
        await ctx.notify(f"probe:{request.event_id}", Message("A note for later"), person_id=ctx.person.id)
        return Reply.say("Queued.")

    @probe.command("digest", help="Queue a long note to myself")
    async def digest(request: Request, ctx: Ctx) -> Reply:
        facts = tuple(Fact(f"Item {i}", lit(f"friction report number {i} " + "x" * 60)) for i in range(500))
        note = Message("Your weekly digest", (Section(heading="Open reports", facts=facts),))
        await ctx.notify(f"probe:{request.event_id}", note, person_id=ctx.person.id)
        return Reply.say("Queued.")

    @probe.shortcut("friction.report_message", "Report friction")
    async def report_message(request: Request, ctx: Ctx) -> Reply:
        assert isinstance(request.intent, Shortcut)
        form = Form(
            "probe.report",
            "Report friction",
            (FormField("title", "Title", initial=request.source_text or ""),),
            state=request.source_link or "",
        )
        return Reply.open(form)

    @probe.form("probe.report")
    async def reported(request: Request, ctx: Ctx) -> Reply:
        assert isinstance(request.intent, Submission)
        return Reply.say(f"Reported {lit(request.intent.values['title'])}.", Section(text="Filed."))

    @probe.home()
    async def home(ctx: Ctx) -> list:
        return [Section(heading="Your pilot", text="Nothing waiting for you.")]

    return reg


@pytest.fixture
async def runtime(db_url: str, clock: FrozenClock) -> AsyncIterator[Runtime]:
    rt = Runtime(make_settings(db_url), db=Database(db_url), clock=clock, reg=probe_registry())
    yield rt
    await rt.close()
