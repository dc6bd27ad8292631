"""`settings`: which kinds of messages a person receives. Mandatory announcements arrive whatever they choose."""

from __future__ import annotations

from bot.context import Ctx
from bot.model import Fact, Form, FormField, Option, Reply, Request, Section, Submission, UserError
from bot.outbox import MESSAGE_KINDS

FORM_ID = "broadcasts.settings"


def _muted(ctx: Ctx) -> list[str]:
    return list((ctx.person.notify_prefs or {}).get("muted", []))


def _set_muted(ctx: Ctx, muted: set[str]) -> None:
    prefs = dict(ctx.person.notify_prefs or {})
    prefs["muted"] = sorted(muted)
    ctx.person.notify_prefs = prefs  # a new dict, so the JSON column is saved


def summary(ctx: Ctx) -> Reply:
    muted = set(_muted(ctx))
    facts = tuple(Fact(label, "muted" if kind in muted else "on") for kind, label in sorted(MESSAGE_KINDS.items()))
    return Reply.say(
        "Your message settings. Mandatory announcements always arrive.",
        Section(heading="What you receive", facts=facts),
        Section(text="Change them with `settings` (a form), or `settings mute KIND` / `settings unmute KIND`."),
    )


async def settings(request: Request, ctx: Ctx) -> Reply:
    """Choose which kinds of messages you receive."""
    words = request.text.strip().lower().split()
    if not words:
        muted = set(_muted(ctx))
        options = tuple(Option(label, kind) for kind, label in sorted(MESSAGE_KINDS.items()))
        receive = [kind for kind in sorted(MESSAGE_KINDS) if kind not in muted]
        field = FormField("receive", "Send me", kind="multi_select", required=False, options=options, initial=receive)
        return Reply.open(
            Form(
                FORM_ID,
                "Your message settings",
                (field,),
                submit_label="Save",
                intro="Untick what you'd rather not get. Mandatory announcements always arrive.",
            )
        )
    if words[0] == "show":
        return summary(ctx)
    if words[0] not in ("mute", "unmute") or len(words) != 2 or words[1] not in MESSAGE_KINDS:
        kinds = ", ".join(sorted(MESSAGE_KINDS))
        raise UserError(f"Usage: `settings`, `settings show`, or `settings mute KIND` / `unmute KIND`. Kinds: {kinds}.")
    muted = set(_muted(ctx))
    (muted.add if words[0] == "mute" else muted.discard)(words[1])
    _set_muted(ctx, muted)
    ctx.audit("settings.notify", "person", ctx.person.id, f"{words[0]} {words[1]}")
    return summary(ctx)


async def settings_saved(request: Request, ctx: Ctx) -> Reply:
    assert isinstance(request.intent, Submission)
    receive = set(request.intent.values.get("receive") or [])
    _set_muted(ctx, {kind for kind in MESSAGE_KINDS if kind not in receive})
    ctx.audit("settings.notify", "person", ctx.person.id, "form")
    return summary(ctx)
