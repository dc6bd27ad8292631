"""One authenticated Teams activity in, neutral requests to the router, Adaptive Cards out.

Kinds handled: messages (personal; @mentions in channels and group chats), card submits (Action.Submit message
activities and `adaptiveCard/action` invokes), message actions (`composeExtension/fetchTask` / `submitAction`),
dialogs (`task/fetch` / `task/submit`),
and install / uninstall (`conversationUpdate`, `installationUpdate`). Anything else: 200 with no reply, and
unknown invokes get 501 as botbuilder's own ActivityHandler answers them. Nothing here decides product behaviour.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from botbuilder.core import BotAdapter, InvokeResponse, TurnContext
from botbuilder.schema import Activity, ActivityTypes, Attachment, DeliveryModes
from sqlalchemy.exc import IntegrityError

from bot.adapters import teams_store as store
from bot.adapters.teams_cards import CARD_CONTENT_TYPE, SubmitProblem, bare, form_card, read_submit
from bot.adapters.teams_sender import TRANSIENT, TeamsSender, card_activities, classify, status_of
from bot.adapters.teams_wire import Envelope
from bot.model import Identity, Message, Place, Reply, Request, Section, Shortcut, Submission, Text, Where, plain
from bot.people import resolve_person
from bot.router import handle, home_view
from bot.runtime import Runtime
from bot.tables import ProcessedEvent

log = logging.getLogger("uptake.teams")

EXPIRED = "This card has expired (it belongs to an older message). Type `help` to see what you can do now."
IN_TURN_TRIES = 3
IN_TURN_MAX_WAIT = 4.0  # seconds one in-turn reply may wait for its slot or a retry
ROSTER_PAGES = 50  # 100 members a page: teams up to 5,000 people are read at install
_TAGS = re.compile(r"<[^>]+>")
_ENVELOPE = "uptake.teams.envelope"


def _tenant(a: Activity) -> str:
    data = a.channel_data if isinstance(a.channel_data, dict) else {}
    tenant = (data.get("tenant") or {}).get("id") or getattr(a.conversation, "tenant_id", None)
    return str(tenant or "local")


def _team_id(a: Activity) -> str | None:
    data = a.channel_data if isinstance(a.channel_data, dict) else {}
    team = data.get("team") or {}
    return str(team["id"]) if team.get("id") else None


def _kind(a: Activity) -> str:
    return str(getattr(a.conversation, "conversation_type", None) or "personal")


def identity_of(a: Activity) -> Identity:
    """Teams user -> neutral identity: tenant + AAD object id; name, locale and timezone from the activity."""
    who = a.from_property
    timezone = None
    for entity in a.entities or []:
        if getattr(entity, "type", None) == "clientInfo":
            props = getattr(entity, "additional_properties", None) or {}
            timezone = props.get("timezone") or timezone
    return Identity(
        "teams",
        _tenant(a),
        str(getattr(who, "aad_object_id", None) or who.id),
        display_name=str(who.name or ""),
        timezone=timezone,
        locale=a.locale or None,
    )


def _place(a: Activity, clicked: str | None = None) -> Place:
    kind = _kind(a)
    where = Where.direct if kind == "personal" else Where.channel
    return Place(where=where, channel_id=a.conversation.id, thread_id=None, message_id=clicked)


def _mentions_bot(a: Activity) -> bool:
    for entity in a.entities or []:
        if getattr(entity, "type", None) == "mention":
            mentioned = (getattr(entity, "additional_properties", None) or {}).get("mentioned") or {}
            if mentioned.get("id") == a.recipient.id:
                return True
    return False


def _event_id(a: Activity) -> str | None:
    return f"teams:{a.id}:{a.conversation.id}"[:200] if a.id else None


def _reference(a: Activity) -> dict[str, Any]:
    ref = TurnContext.get_conversation_reference(a).serialize()
    ref["conversation"]["tenantId"] = _tenant(a)
    ref.pop("activityId", None)
    return ref


class UptakeTeamsBot:
    """The bot behind CloudAdapter: `on_turn` is called once per authenticated activity."""

    def __init__(self, rt: Runtime, sender: TeamsSender) -> None:
        self.rt = rt
        self.sender = sender
        self._known_refs: set[tuple[str, str]] = set()  # (conversation id, serviceUrl) already stored
        # Roster saves read then write many rows: one at a time per process, since two SQLite transactions that
        # both read first cannot both upgrade to writing ("database is locked" without waiting).
        self._roster_lock = asyncio.Lock()

    async def on_turn(self, ctx: TurnContext) -> None:
        a = ctx.activity
        if a.from_property is not None and a.recipient is not None and a.from_property.id == a.recipient.id:
            return  # our own echo
        if a.type == ActivityTypes.message:
            await self.on_message(ctx)
        elif a.type == ActivityTypes.invoke:
            status, body = await self.on_invoke(ctx)
            await ctx.send_activity(
                Activity(type=ActivityTypes.invoke_response, value=InvokeResponse(status=status, body=body))
            )
        elif a.type == ActivityTypes.conversation_update:
            await self.on_conversation_update(ctx)
        elif a.type == ActivityTypes.installation_update:
            action = str(a.action or "")
            if action.startswith("add"):
                await self.bot_added(ctx)
            elif action.startswith("remove"):
                await self.bot_removed(ctx)
        # typing, messageReaction, event, …: nothing to do, 200 with no reply

    # ------------------------------------------------------------ messages

    async def on_message(self, ctx: TurnContext) -> None:
        a = ctx.activity
        await self.remember(a)
        if a.value is not None and not (a.text or "").strip():
            intent = read_submit(a.value)
            if intent is None:
                await self.say(ctx, Reply.say(EXPIRED))
                return
            if isinstance(intent, SubmitProblem):
                await self.say(ctx, Reply.say(intent.text))
                return
            request = Request(identity_of(a), intent, _place(a, a.reply_to_id), event_id=_event_id(a))
            await self.deliver(ctx, await handle(self.rt, request), request)
            return
        if _kind(a) != "personal" and not _mentions_bot(a):
            return  # channel chatter not addressed to us (only possible with RSC permissions)
        text = TurnContext.remove_recipient_mention(a) if _kind(a) != "personal" else a.text
        text = html.unescape(_TAGS.sub("", text or "")).strip()
        request = Request(identity_of(a), Text(text), _place(a), event_id=_event_id(a))
        await self.deliver(ctx, await handle(self.rt, request), request)

    # ------------------------------------------------------------ invokes

    async def on_invoke(self, ctx: TurnContext) -> tuple[int, Any]:
        a = ctx.activity
        name = str(a.name or "")
        value = a.value if isinstance(a.value, dict) else {}
        if name == "adaptiveCard/action":
            await self.remember(a)
            action = value.get("action") or {}
            intent = read_submit(action.get("data"))
            if intent is None or isinstance(intent, SubmitProblem):
                text = intent.text if isinstance(intent, SubmitProblem) else EXPIRED
                return 200, _message_response(text)
            request = Request(identity_of(a), intent, _place(a, a.reply_to_id), event_id=_event_id(a))
            reply = await handle(self.rt, request)
            updated = await self.deliver(ctx, reply, request)
            if updated is not None:
                return 200, {"statusCode": 200, "type": CARD_CONTENT_TYPE, "value": updated}
            return 200, _message_response(bare(reply.text).split("\n", 1)[0][:120] or "Done.")
        if name in ("composeExtension/fetchTask", "composeExtension/submitAction", "task/fetch", "task/submit"):
            return 200, await self.message_action(ctx, name, value)
        return 501, None

    async def message_action(self, ctx: TurnContext, name: str, value: dict[str, Any]) -> dict[str, Any]:
        """A dialog (task module): a message action (Teams' message shortcut) is a Shortcut on fetch; a dialog
        opened from a card button (`task/fetch`) and every dialog submit carry our card data: an Action or a form's
        Submission. A form in the reply opens (or re-opens, with its errors) as the dialog; anything else closes it
        with a short message."""
        a = ctx.activity
        if name == "composeExtension/fetchTask":
            payload = value.get("messagePayload") or {}
            body = (payload.get("body") or {}).get("content") or ""
            text = html.unescape(_TAGS.sub("", str(body))).strip()
            request = Request(
                identity_of(a),
                Shortcut(str(value.get("commandId") or "")),
                _place(a),
                event_id=_event_id(a),
                source_text=text or None,
                source_link=payload.get("linkToMessage") or None,
            )
        else:
            intent = read_submit(value.get("data"))
            if intent is None or isinstance(intent, SubmitProblem):
                return _task_message(intent.text if isinstance(intent, SubmitProblem) else EXPIRED)
            request = Request(identity_of(a), intent, _place(a), event_id=_event_id(a))
        reply = await handle(self.rt, request)
        if reply.form is not None:
            content = form_card(reply.form)
            return {
                "task": {
                    "type": "continue",
                    "value": {
                        "title": plain(reply.form.title)[:60],
                        "card": {"contentType": CARD_CONTENT_TYPE, "content": content},
                        "height": "medium",
                        "width": "medium",
                    },
                }
            }
        if reply.message is not None and len(reply.message.blocks) > 0:
            messages = [reply.message, *reply.follow_ups]
            await self.send_private(ctx, request, [act for m in messages for act in card_activities(m)])
        return _task_message(bare(reply.text)[:500] or "Done.")

    # ------------------------------------------------------------ install / uninstall

    async def on_conversation_update(self, ctx: TurnContext) -> None:
        a = ctx.activity
        bot_id = a.recipient.id if a.recipient else None
        added = a.members_added or []
        if any(m.id == bot_id for m in added):
            await self.bot_added(ctx)
        elif added:
            await self.save_members(a, added)
        if any(m.id == bot_id for m in (a.members_removed or [])):
            await self.bot_removed(ctx)

    async def bot_added(self, ctx: TurnContext) -> None:
        a = ctx.activity
        tenant, kind = _tenant(a), _kind(a)
        await self.remember(a, force=True)
        identity = identity_of(a)
        async with self.rt.db.session() as session:
            if kind == "personal":
                await store.mark_reachable(session, tenant, identity.user_id)
            first = await _first_time(session, f"teams:welcome:{a.conversation.id}"[:200], self.rt)
            await session.commit()
        if kind == "channel" and _team_id(a):
            await self.read_roster(ctx)
        if not first:
            return
        if kind == "personal":
            blocks = await home_view(self.rt, identity)
            welcome = Message("Welcome to Uptake", tuple(blocks))
        else:
            welcome = Message(
                "Hi, I'm Uptake",
                (
                    Section(
                        heading="Hi, I'm Uptake",
                        text="I help this team adopt the rollout: mention me with a question, or with `help` "
                        "to see what I can do. Replies meant only for you arrive in our personal chat.",
                    ),
                ),
            )
        await self.send(ctx, card_activities(welcome))

    async def bot_removed(self, ctx: TurnContext) -> None:
        a = ctx.activity
        root = a.conversation.id.split(";messageid=", 1)[0]
        async with self.rt.db.session() as session:
            await store.deactivate(session, root)
            if _kind(a) == "personal":
                await store.mark_unreachable(session, _tenant(a), identity_of(a).user_id)
            await session.commit()
        self._known_refs = {k for k in self._known_refs if k[0] != root}
        log.info("teams: removed from a %s conversation", _kind(a))

    async def read_roster(self, ctx: TurnContext) -> None:
        """Team membership from the paged members API (the legacy unpaged one is throttled to 5/min)."""
        a = ctx.activity
        team_id = _team_id(a)
        if team_id is None:
            return
        client = self.sender.pool.connector(a.service_url)
        token: str | None = None
        members: list[Any] = []
        for _ in range(ROSTER_PAGES):
            try:
                page = await client.conversations.get_conversation_paged_members(
                    team_id, page_size=100, continuation_token=token
                )
            except Exception as e:
                log.warning("teams: roster read failed (%s); continuing without it", type(e).__name__)
                break
            members.extend(page.members or [])
            token = page.continuation_token
            if not token:
                break
        await self.save_members(a, members)

    async def save_members(self, a: Activity, members: list[Any]) -> None:
        tenant, team_id, now = _tenant(a), _team_id(a), self.rt.clock.now()
        async with self._roster_lock, self.rt.db.session() as session:
            for m in members:
                aad = getattr(m, "aad_object_id", None)
                if not aad or m.id == a.recipient.id:
                    continue
                name = str(getattr(m, "name", "") or "")
                fields = dict(user_id=str(m.id), bot_id=str(a.recipient.id), name=name, service_url=a.service_url)
                # Teams sends conversationUpdate and installationUpdate for one install at once (the playground
                # does, too): both turns read the roster, so a member row may appear between our read and insert.
                for attempt in range(2):
                    try:
                        async with session.begin_nested():
                            await store.save_member(
                                session, tenant_id=tenant, aad_id=str(aad), team_id=team_id, now=now, **fields
                            )
                            await session.flush()
                        break
                    except IntegrityError:
                        if attempt:
                            raise
                await resolve_person(session, Identity("teams", tenant, str(aad), display_name=name), now)
            await session.commit()

    # ------------------------------------------------------------ replies

    async def remember(self, a: Activity, *, force: bool = False) -> None:
        """Store the conversation reference of an authenticated activity (once per process per conversation)."""
        conversation_id = a.conversation.id.split(";messageid=", 1)[0]
        key = (conversation_id, a.service_url)
        if key in self._known_refs and not force:
            return
        kind = _kind(a)
        ref = _reference(a)
        ref["conversation"]["id"] = conversation_id
        async with self.rt.db.session() as session:
            try:
                await store.save_reference(
                    session,
                    reference=ref,
                    tenant_id=_tenant(a),
                    kind=kind,
                    service_url=a.service_url,
                    user_aad_id=identity_of(a).user_id if kind == "personal" else None,
                    team_id=_team_id(a),
                    now=self.rt.clock.now(),
                )
                await session.commit()
            except IntegrityError:
                return  # a concurrent first activity from this conversation stored it; a later one refreshes it
        self._known_refs.add(key)

    async def send(self, ctx: TurnContext, activities: list[Activity]) -> None:
        """In-turn replies, one at a time, each within the conversation's send budget (shared with the outbox)."""
        for activity in activities:
            await self.within_budget(ctx, lambda activity=activity: self.post(ctx, activity))

    def _envelope(self, ctx: TurnContext) -> Envelope:
        env = ctx.turn_state.get(_ENVELOPE)
        if env is None:
            env = ctx.turn_state[_ENVELOPE] = Envelope(ctx.activity)
        return env

    async def post(self, ctx: TurnContext, activity: Activity) -> dict[str, Any]:
        """One in-turn reply: what `ctx.send_activity` would post (same URL, body, token), on the pool's session
        with the body written by teams_wire instead of msrest. `expectReplies` turns keep botbuilder's path, which
        buffers the replies into the HTTP response instead of posting them."""
        if ctx.activity.delivery_mode == DeliveryModes.expect_replies:
            sent = await ctx.send_activity(activity)
            return {"id": getattr(sent, "id", None)}
        env = self._envelope(ctx)
        body = env.reply(activity)
        path = f"/v3/conversations/{quote(env.conversation_id, safe='')}/activities"
        if body.get("replyToId"):
            path += "/" + quote(str(body["replyToId"]), safe="")
        audience = ctx.turn_state.get(BotAdapter.BOT_OAUTH_SCOPE_KEY)
        answer = await self.sender.pool.call("POST", env.service_url, path, env.conversation_id, body, audience)
        ctx.responded = True
        return answer

    async def put(self, ctx: TurnContext, activity: Activity) -> dict[str, Any]:
        """What `ctx.update_activity` would put: the card that replaces activity `activity.id`."""
        env = self._envelope(ctx)
        body = env.update(activity)
        path = f"/v3/conversations/{quote(env.conversation_id, safe='')}/activities/{quote(str(activity.id), safe='')}"
        audience = ctx.turn_state.get(BotAdapter.BOT_OAUTH_SCOPE_KEY)
        return await self.sender.pool.call("PUT", env.service_url, path, env.conversation_id, body, audience)

    async def within_budget(self, ctx: TurnContext, call: Callable[[], Awaitable[Any]]) -> Any:
        """One in-turn call to the connector, counted against the same per-conversation and per-tenant budget as
        the outbox's sends. A transient failure (429, 5xx) retries this call only, never the cards already sent
        before it; waits stay short, because Teams expects the turn to finish within 15 s."""
        a = ctx.activity
        conversation, tenant = a.conversation.id.split(";messageid=", 1)[0], _tenant(a)
        budget = self.sender.budget
        for attempt in range(IN_TURN_TRIES):
            wait = budget.reserve(conversation, tenant)
            if wait > IN_TURN_MAX_WAIT:
                log.warning("teams: in-turn reply over the send budget; waiting only %.1fs", IN_TURN_MAX_WAIT)
            if wait > 0:
                await self.sender.sleep(min(wait, IN_TURN_MAX_WAIT))
            try:
                result = await call()
            except Exception as e:
                status = status_of(e)
                if status not in TRANSIENT or attempt == IN_TURN_TRIES - 1:
                    raise
                if status == 429:
                    budget.throttled(conversation, classify(e).retry_after)
                else:
                    await self.sender.sleep(0.5 * (attempt + 1))
                log.info("teams: in-turn reply answered %s; retrying it", status)
                continue
            budget.succeeded(conversation)
            return result
        return None

    async def say(self, ctx: TurnContext, reply: Reply) -> None:
        if reply.message:
            await self.send(ctx, card_activities(reply.message))

    async def deliver(self, ctx: TurnContext, reply: Reply, request: Request) -> dict[str, Any] | None:
        """Send the reply; returns the card that replaced the clicked one (for Action.Execute's response)."""
        a = ctx.activity
        clicked = request.place.message_id
        messages = ([reply.message] if reply.message else []) + list(reply.follow_ups)
        outgoing = [act for msg in messages for act in card_activities(msg)]
        replaced: dict[str, Any] | None = None
        # A submitted form card is done, like a Slack modal that closes: its answer (or the next step's form)
        # takes its place, so no live Send button is left behind in the chat.
        submitted = isinstance(request.intent, Submission)
        if clicked and reply.form is not None and (reply.form.errors or (submitted and not outgoing)):
            replaced = form_card(reply.form)  # validation errors: re-render the form the person submitted
        elif clicked and (reply.replace or submitted) and outgoing:
            replaced = outgoing.pop(0).attachments[0].content  # the rest of a long message follows as new posts
        if replaced is not None:
            update = Activity(
                type=ActivityTypes.message,
                id=clicked,
                attachments=[Attachment(content_type=CARD_CONTENT_TYPE, content=replaced)],
            )
            await self.within_budget(ctx, lambda: self.put(ctx, update))
        if reply.form is not None and replaced is None:
            outgoing.append(
                Activity(
                    type=ActivityTypes.message,
                    summary=bare(reply.form.title)[:200],
                    attachments=[Attachment(content_type=CARD_CONTENT_TYPE, content=form_card(reply.form))],
                )
            )
        if not outgoing:
            return replaced
        if reply.private and _kind(a) != "personal" and reply.form is None:
            await self.send_private(ctx, request, outgoing)
        else:
            await self.send(ctx, outgoing)
        return replaced

    async def send_private(self, ctx: TurnContext, request: Request, outgoing: list[Activity]) -> None:
        """A private reply to something said in a channel or group chat goes to the person's personal chat."""
        a = ctx.activity
        if _kind(a) == "personal":
            await self.send(ctx, outgoing)
            return
        tenant, aad = _tenant(a), request.identity.user_id
        try:
            async with self.rt.db.session() as session:
                row = await store.personal_conversation(session, tenant, aad)
                if row is None:
                    row = await self.sender.open_personal(
                        session, tenant, aad, a.from_property.id, a.recipient.id, a.service_url, a.from_property.name
                    )
                    await session.commit()
                conversation_id, service_url = row.conversation_id, row.service_url
            await self.sender.post_activities(conversation_id, tenant, service_url, outgoing)
        except Exception as e:
            log.info("teams: private reply fell back to the thread (%s)", type(e).__name__)
            await self.send(ctx, outgoing)
            return
        await self.send(ctx, card_activities(Message("I've answered you in our personal chat.")))


def _message_response(text: str) -> dict[str, Any]:
    return {"statusCode": 200, "type": "application/vnd.microsoft.activity.message", "value": text}


def _task_message(text: str) -> dict[str, Any]:
    return {"task": {"type": "message", "value": text}}


async def _first_time(session: Any, key: str, rt: Runtime) -> bool:
    """Claim a one-time key (a welcome per conversation) in the router's idempotency table."""
    try:
        async with session.begin_nested():
            session.add(ProcessedEvent(key=key, at=rt.clock.now()))
            await session.flush()
    except IntegrityError:
        return False
    return True
