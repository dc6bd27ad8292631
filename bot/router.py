"""The router: one neutral request in, one neutral reply out, for every platform.

It owns what every request needs the same way: input limits, idempotency, the person and role, dispatch
by command / action / form, role checks, help, and turning errors into a kind reply with a reference
(the traceback goes to the log, never the chat).
"""

from __future__ import annotations

import datetime as dt
import difflib
import logging
import secrets
import unicodedata

from sqlalchemy import bindparam, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from bot.context import Ctx, RowCtx
from bot.model import (
    Action,
    Block,
    Command,
    Context,
    Identity,
    Reply,
    Request,
    Role,
    Section,
    Shortcut,
    Submission,
    Text,
    UserError,
    lit,
)
from bot.people import Duplicate, hot_caller, load_caller, refresh_profile, resolve_person, role_of
from bot.permissions import Denied
from bot.registry import CommandSpec
from bot.runtime import Runtime
from bot.tables import AuditEntry, ProcessedEvent

log = logging.getLogger("uptake.router")

_CONTROL = {"Cc", "Cf", "Co", "Cs"}
# A plain Core insert (no unit-of-work flush); a key already there raises IntegrityError, like the ORM add did.
_RECORD_KEY = insert(ProcessedEvent.__table__).values(
    key=bindparam("key"), at=bindparam("at"), attempt=bindparam("attempt")
)
_KEY_ATTEMPT = select(ProcessedEvent.attempt).where(ProcessedEvent.key == bindparam("key"))


def clean_text(text: str) -> str:
    """NFC, no control or bidi-override characters except newlines and tabs (OWASP input validation)."""
    text = unicodedata.normalize("NFC", text)
    return "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) not in _CONTROL).strip()


def split_command(text: str) -> tuple[str, str]:
    word, _, rest = text.strip().partition(" ")
    return word.lower().lstrip("/"), rest.strip()


async def handle(rt: Runtime, request: Request) -> Reply:
    """Answer one request. Never raises: every failure becomes a reply fit for the person."""
    too_long = _too_long(rt, request)
    if too_long is not None:
        return too_long
    try:
        return await _handle(rt, request)
    except Exception:
        ref = secrets.token_hex(4)
        log.exception("request failed ref=%s platform=%s", ref, request.identity.platform)
        return Reply.say(
            f"Sorry, something went wrong on my side. I've logged it (reference {ref}); please try "
            "again in a moment, or tell your change lead with that reference."
        )


def _too_long(rt: Runtime, request: Request) -> Reply | None:
    limit = rt.settings.max_text
    texts = [request.text]
    if isinstance(request.intent, Submission):
        texts = [v for v in request.intent.values.values() if isinstance(v, str)]
    if any(len(t) > limit for t in texts):
        return Reply.say(
            f"That's more than {limit:,} characters, which is more than I can take in one go. "
            "Please shorten it or split it up; I haven't stored anything."
        )
    return None


async def _handle(rt: Runtime, request: Request) -> Reply:
    key = request.event_id[:200] if request.event_id else None
    if rt.db.hot is not None:
        # One read first, on the driver: the person, rollout and role, and whether a platform retry of this was
        # already handled. A known person's request then needs a session only if the handler uses one.
        try:
            row = await hot_caller(rt.db, request.identity, slug=rt.settings.rollout, admins=_admins(rt), key=key)
        except Duplicate:
            log.info("duplicate event ignored key=%s", key)
            return Reply.nothing()
        except Exception:
            log.warning("caller: driver path failed, using the session", exc_info=True)
            row = None
        if row is not None:
            ctx = RowCtx(rt, row, request.identity)
            try:
                return await _answer(rt, request, ctx, key)
            finally:
                await ctx.close()
    async with rt.db.session() as session:
        try:
            slow = await _context(rt, session, request.identity, key)
        except Duplicate:
            log.info("duplicate event ignored key=%s", key)
            return Reply.nothing()
        return await _answer(rt, request, slow, key)


def _admins(rt: Runtime) -> set[tuple[str, str, str]]:
    return rt.settings.admin_identities()  # type: ignore[no-any-return]


async def _answer(rt: Runtime, request: Request, ctx: Ctx, key: str | None) -> Reply:
    """Dispatch, then commit the handler's effects with the key (or the key alone, if it wrote nothing)."""
    rollout_id = ctx.rollout_id
    if isinstance(ctx, RowCtx) and ctx.refresh_needed(rt.clock.now()):
        refresh_profile(ctx.person, ctx.link(), request.identity, rt.clock.now())
    try:
        reply = await dispatch(request, ctx)
    except Denied as denied:
        await ctx.discard()
        await _audit_denial(rt, request, rollout_id, denied)
        return Reply.say(denied.message)
    except UserError as e:
        await ctx.discard()
        return Reply.say(e.message)
    # This attempt's token, stored with the key: a write whose answer was lost is recognised as ours, not a retry.
    attempt = secrets.token_hex(8) if key else None
    session = ctx.opened_session()
    after_driver = False
    if (session is None or _untouched(session)) and rt.db.hot is not None:
        # The handler wrote nothing (help, most answers): the key alone, in one round trip of its own.
        if session is not None:
            session.sync_session.close()
        recorded = await _record_key(rt, key, attempt)
        if recorded:
            return reply
        if recorded is not None:
            log.info("concurrent duplicate ignored key=%s", key)
            return Reply.nothing()
        # The driver path failed, perhaps after its INSERT committed: the session path below is the reference.
        session, after_driver = ctx.session, True
    assert session is not None
    if not await session.run_sync(_commit_with_key, key, rt.clock.now(), attempt, after_driver):
        log.info("concurrent duplicate ignored key=%s", key)
        return Reply.nothing()
    return reply


def _untouched(session: AsyncSession) -> bool:
    """Did the handler leave the session without changes and without ever opening a connection?"""
    s = session.sync_session
    if s.new or s.dirty or s.deleted:
        return False
    tx = s.get_transaction()
    return tx is None or not tx._connections


async def _record_key(rt: Runtime, key: str | None, attempt: str | None) -> bool | None:
    """Write the idempotency key on the driver (bot.db.HotPath): True if written (or no key), False if a
    concurrent duplicate holds it, None if the driver path failed (the caller uses the session instead; the key may
    be written all the same, if the failure came after the commit)."""
    if not key:
        return True
    assert rt.db.hot is not None
    try:
        return await rt.db.hot.insert(_RECORD_KEY, {"key": key, "at": rt.clock.now(), "attempt": attempt})
    except Exception:
        log.warning("idempotency key: driver path failed, using the session", exc_info=True)
        return None


def _commit_with_key(
    session: Session, key: str | None, at: dt.datetime, attempt: str | None, after_driver: bool = False
) -> bool:
    """Flush the handler's effects, record the idempotency key, commit; False (rolled back) if the key is taken.

    The key is written last, in the handler's transaction: effects and key commit together, and on SQLite the
    write lock is not held while the handler runs. A concurrent duplicate fails on the key. One call into the sync
    session (one greenlet) instead of three awaits, and the key goes straight to the connection (no ORM execute).

    `after_driver`: the driver's INSERT of this key failed (the handler wrote nothing). It may have committed before
    its answer was lost; a key holding this `attempt` is then this request's own write, not a duplicate. Only this
    rare conflict costs the extra read.
    """
    if key:
        session.flush()  # the handler's own errors surface here, never as a duplicate
        try:
            session.connection().execute(_RECORD_KEY, {"key": key, "at": at, "attempt": attempt})
        except IntegrityError:
            session.rollback()
            ours = after_driver and session.connection().scalar(_KEY_ATTEMPT, {"key": key}) == attempt
            session.rollback()
            if ours:
                log.info("idempotency key was written by this request before its driver failed key=%s", key)
            return ours
    session.commit()
    return True


async def home_view(rt: Runtime, identity: Identity) -> list[Block]:
    """The person's home (Slack App Home; a Teams welcome card): sections contributed by capabilities, role-aware.

    A section that fails is left out and logged, so one broken capability never blanks the whole home.
    """
    async with rt.db.session() as session:
        ctx = await _context(rt, session, identity, None)
        rollout, role = ctx.rollout, ctx.role
        blocks: list[Block] = [
            Section(heading=f"Uptake — {lit(rollout.name)}", text=f"Phase: *{rollout.phase}*. You are {role.label}.")
        ]
        for spec in rt.registry.home:
            try:
                blocks.extend(await spec.fn(ctx))
            except Exception:
                log.exception("home section %s failed", spec.name)
        blocks.extend(help_blocks(ctx))
        await session.commit()
        return blocks


async def _context(rt: Runtime, session: AsyncSession, identity: Identity, key: str | None) -> Ctx:
    """The request's context through the session: one query for a known person, the creating slow path on first
    contact. Nothing is cached across requests.

    Raises `Duplicate` if `key` was already processed.
    """
    now = rt.clock.now()
    admins = _admins(rt)
    caller = await load_caller(session, identity, now, slug=rt.settings.rollout, admins=admins, key=key)
    if caller is not None:
        person, rollout, role = caller.person, caller.rollout, caller.role
    else:
        if key and await session.get(ProcessedEvent, key) is not None:
            raise Duplicate(key)
        rollout = await rt.default_rollout(session)
        person, link = await resolve_person(session, identity, now)
        role = await role_of(session, person, link, rollout, admins)
    return Ctx(runtime=rt, session=session, person=person, identity=identity, rollout=rollout, role=role)


async def _audit_denial(rt: Runtime, request: Request, rollout_id: int, denied: Denied) -> None:
    # The person is resolved again: on first contact the rollback above also undid their creation.
    async with rt.db.session() as session:
        person, _ = await resolve_person(session, request.identity, rt.clock.now())
        person_id = person.id
        session.add(
            AuditEntry(
                rollout_id=rollout_id,
                actor_id=person_id,
                action="denied",
                object_type="permission",
                object_id=denied.needed.label,
                summary=f"tried to {denied.what}",
                at=rt.clock.now(),
            )
        )
        await session.commit()
    log.info("permission denied person=%s what=%s", person_id, denied.what)


async def dispatch(request: Request, ctx: Ctx) -> Reply:
    reg = ctx.runtime.registry
    intent = request.intent
    if isinstance(intent, Command):
        return await _command(request, ctx, intent.word.lower(), intent.args)
    if isinstance(intent, Text):
        text = clean_text(intent.text)
        if not text:
            return help_reply(ctx)
        word, args = split_command(text)
        if word in reg.words or word == "help":
            return await _command(request, ctx, word, args)
        if not args and _close_command(ctx, word):
            return unknown_command(ctx, word)
        if reg.free_text is None:
            return Reply.say("I can't answer questions yet, but here is what I can do:", *help_blocks(ctx))
        return await reg.free_text(_with_text(request, text), ctx)
    if isinstance(intent, Action):
        spec = reg.find_action(intent.action_id)
        if spec is None:
            return Reply.say(
                "This button has expired (it belongs to an older message). Type `help` to see what you can do now."
            )
        ctx.require(spec.role, _describe(spec.action_id))
        return await spec.handler(request, ctx)
    if isinstance(intent, Submission):
        fspec = reg.forms.get(intent.form_id)
        if fspec is None:
            return Reply.say(
                "This form has expired (it belongs to an older version). Please start again; "
                "type `help` to see the commands."
            )
        ctx.require(fspec.role, _describe(fspec.form_id))
        from dataclasses import replace

        values = {k: clean_text(v) if isinstance(v, str) else v for k, v in intent.values.items()}
        return await fspec.handler(replace(request, intent=replace(intent, values=values)), ctx)
    if isinstance(intent, Shortcut):
        sspec = reg.shortcuts.get(intent.shortcut_id)
        if sspec is None:
            return Reply.say("That shortcut is no longer available. Type `help` to see what you can do now.")
        ctx.require(sspec.role, _describe(sspec.shortcut_id))
        return await sspec.handler(request, ctx)
    raise TypeError(f"unknown intent {type(intent).__name__}")


def _with_text(request: Request, text: str) -> Request:
    from dataclasses import replace

    return replace(request, intent=Text(text))


def _describe(dotted: str) -> str:
    return "use " + dotted.replace(".", " ").replace("_", " ")


async def _command(request: Request, ctx: Ctx, word: str, args: str) -> Reply:
    reg = ctx.runtime.registry
    if word == "help" and "help" not in reg.words:
        return help_reply(ctx)
    spec = reg.words.get(word)
    if spec is None:
        return unknown_command(ctx, word)
    ctx.require(spec.role, f"use `{spec.word}`")
    from dataclasses import replace

    return await spec.handler(replace(request, intent=Command(spec.word, clean_text(args))), ctx)


def visible_commands(ctx: Ctx) -> list[CommandSpec]:
    return [c for c in ctx.runtime.registry.commands.values() if ctx.role >= c.role]


def help_blocks(ctx: Ctx) -> list[Section | Context]:
    """The commands the person's role may use. Built once per role and rollout name (blocks are immutable);
    the rollout name is read on every request, so a rename elsewhere shows at once."""
    reg = ctx.runtime.registry
    key = ("help", ctx.role, ctx.rollout_name)
    blocks = reg.derived.get(key)
    if blocks is None:
        blocks = reg.derived[key] = tuple(_build_help(ctx))
    return list(blocks)


def _build_help(ctx: Ctx) -> list[Section | Context]:
    lines = [f"• `{c.usage}` — {c.help}" for c in sorted(visible_commands(ctx), key=lambda c: c.word)]
    if "help" not in ctx.runtime.registry.words:
        lines.insert(0, "• `help` — show this list")
    blocks: list[Section | Context] = [Section(heading="What I can do", text="\n".join(lines))]
    if ctx.runtime.registry.free_text is not None:
        blocks.append(Context("You can also just ask me a question in your own words."))
    if ctx.role > Role.employee:
        blocks.append(Context(f"You are a {ctx.role.label} in {ctx.rollout_name}."))
    return blocks


def help_reply(ctx: Ctx) -> Reply:
    return Reply.say("Here's what I can do.", *help_blocks(ctx))


def _close_command(ctx: Ctx, word: str, cutoff: float = 0.6) -> str | None:
    words = [w for w, c in ctx.runtime.registry.words.items() if ctx.role >= c.role] + ["help"]
    close = difflib.get_close_matches(word, words, n=1, cutoff=cutoff)
    return close[0] if close else None


def unknown_command(ctx: Ctx, word: str) -> Reply:
    close = [c] if (c := _close_command(ctx, word)) else []
    hint = f"Did you mean `{close[0]}`? " if close else ""
    return Reply.say(f"I don't know the command `{lit(word[:40])}`. {hint}Here's what I can do:", *help_blocks(ctx))
