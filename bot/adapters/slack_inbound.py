"""Slack payloads → neutral Requests: who (Identity, from users.info with a cache), what (intent), where (Place),
and the idempotency key.

Idempotency keys (the router stores them in processed_events, so a key has one effect):
- events: Slack's `event_id` (retries carry the same one);
- slash commands and shortcuts: the payload's `trigger_id`, unique per invocation and repeated in a replay;
- button clicks and select choices: a digest of user + action id + value + message (or view) + Slack's
  `action_ts`, so a replayed payload is one effect.

A *double click* is two payloads with different `action_ts`, so those keys don't catch it. `ClickGate` does, in
every replica at once: time (Slack's `action_ts`, the same for every replica) is cut into windows of
DOUBLE_CLICK_SECONDS, and a click claims the keys of its window and of the next one in processed_events. Two
clicks less than a window apart always share a key, so the second fails on the unique key wherever it lands, even
when they straddle a window boundary; clicks two windows apart or more share none, so a deliberate second click
later works. Between one and two windows apart either can happen.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import math
import re
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError

from bot.adapters.slack_render import DUP_MARK, element_kind
from bot.clock import Clock
from bot.db import Database
from bot.model import Action, Command, Identity, Place, Request, Shortcut, Submission, Text, Where
from bot.tables import ProcessedEvent

log = logging.getLogger("uptake.slack")

DOUBLE_CLICK_SECONDS = 1.5
IDENTITY_TTL = dt.timedelta(hours=6)

_SLACK_MARKUP = re.compile(r"<([^<>]+)>")


def slack_to_plain(text: str) -> str:
    """Slack's encoded message text → what the person typed (mentions and links as readable text)."""

    def one(m: re.Match[str]) -> str:
        inner = m.group(1)
        target, _, label = inner.partition("|")
        if target.startswith("@"):
            return "@" + (label or target[1:])
        if target.startswith("#"):
            return "#" + (label or target[1:])
        if target.startswith("!"):
            return "@" + (label or target[1:].split("^")[0])
        return label or target

    text = _SLACK_MARKUP.sub(one, text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def strip_mention(text: str, bot_user_id: str | None) -> str:
    pattern = re.escape(f"<@{bot_user_id}>") if bot_user_id else r"^\s*<@[A-Z0-9]+(\|[^>]*)?>"
    text = re.sub(pattern, " ", text)
    return " ".join(text.split(" ")).strip()


def split_slash(text: str) -> Command:
    word, _, rest = (text or "").strip().partition(" ")
    return Command(word.lower(), rest.strip())


def action_id_in(raw: str) -> str:
    """Undo the renderer's uniqueness suffix (`id~2`)."""
    base, mark, n = raw.rpartition(DUP_MARK)
    return base if mark and n.isdigit() else raw


@dataclass
class Turn:
    """Where and how to answer one inbound Slack request."""

    team_id: str
    user_id: str
    channel_id: str | None = None
    where: Where = Where.direct
    thread_ts: str | None = None
    message_ts: str | None = None
    response_url: str | None = None
    trigger_id: str | None = None
    view_id: str | None = None  # the request came from inside a modal

    def answer_in(self) -> dict[str, str]:
        """The compact address a modal carries in its private_metadata."""
        out = {"w": self.where.value}
        if self.channel_id:
            out["c"] = self.channel_id
        if self.thread_ts:
            out["t"] = self.thread_ts
        return out

    def place(self) -> Place:
        return Place(where=self.where, channel_id=self.channel_id, thread_id=self.thread_ts, message_id=self.message_ts)


def where_of(channel_id: str | None, channel_type: str | None = None) -> Where:
    if channel_type == "im" or (channel_id or "").startswith("D"):
        return Where.direct
    return Where.channel


def team_of(body: dict[str, Any]) -> str:
    team = body.get("team_id") or (body.get("team") or {}).get("id") or (body.get("user") or {}).get("team_id")
    if not team:
        team = (body.get("view") or {}).get("team_id") or ""
    return str(team)


# ---------------------------------------------------------------- payloads


def command_turn(body: dict[str, Any]) -> tuple[Turn, Command, str]:
    channel = body.get("channel_id")
    name = body.get("channel_name")
    where = Where.direct if name == "directmessage" or str(channel or "").startswith("D") else Where.channel
    turn = Turn(
        team_id=team_of(body),
        user_id=body["user_id"],
        channel_id=channel,
        where=where,
        response_url=body.get("response_url"),
        trigger_id=body.get("trigger_id"),
    )
    return turn, split_slash(slack_to_plain(body.get("text") or "")), f"slack:cmd:{body.get('trigger_id')}"


def message_turn(body: dict[str, Any], event: dict[str, Any], bot_user_id: str | None) -> tuple[Turn, Text, str]:
    channel = event.get("channel")
    mention = event.get("type") == "app_mention"
    where = where_of(channel, event.get("channel_type"))
    thread = event.get("thread_ts") or (event.get("ts") if mention and where != Where.direct else None)
    turn = Turn(
        team_id=team_of(body) or event.get("team", ""),
        user_id=event["user"],
        channel_id=channel,
        where=Where.thread if where == Where.channel and event.get("thread_ts") else where,
        thread_ts=thread,
    )
    raw = event.get("text") or ""
    if mention:
        raw = strip_mention(raw, bot_user_id)
    return turn, Text(slack_to_plain(raw)), f"slack:ev:{body.get('event_id')}"


def action_turn(body: dict[str, Any]) -> tuple[Turn, Action, str, str]:
    """Also returns the double-click key (no action_ts)."""
    action = body["actions"][0]
    value = action.get("value") or ""
    if action.get("type") == "static_select":
        value = ((action.get("selected_option") or {}).get("value")) or ""
    elif action.get("type") in ("multi_static_select", "checkboxes"):
        value = ",".join(o.get("value", "") for o in action.get("selected_options") or [])
    container = body.get("container") or {}
    channel = (body.get("channel") or {}).get("id") or container.get("channel_id")
    view = body.get("view") or {}
    message_ts = container.get("message_ts") or (body.get("message") or {}).get("ts")
    where = where_of(channel) if channel else Where.direct
    if view.get("private_metadata") and not channel:
        meta = parse_metadata(view.get("private_metadata") or "")
        channel, where = meta.get("c"), Where(meta.get("w", "direct"))
    turn = Turn(
        team_id=team_of(body),
        user_id=body["user"]["id"],
        channel_id=channel,
        where=where,
        thread_ts=(body.get("message") or {}).get("thread_ts"),
        message_ts=message_ts,
        response_url=body.get("response_url"),
        trigger_id=body.get("trigger_id"),
        view_id=view.get("id") if view.get("type") == "modal" else None,
    )
    action_id = action_id_in(action["action_id"])
    spot = message_ts or view.get("id") or ""
    # Digested: a value can be long, and a key cut at 200 characters would lose the action_ts behind it.
    click = _digest(f"{turn.team_id}:{turn.user_id}:{spot}:{action_id}:{value}")
    return turn, Action(action_id, value), f"slack:act:{click}:{action.get('action_ts')}", click


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:40]


def shortcut_turn(body: dict[str, Any]) -> tuple[Turn, Shortcut, str]:
    channel = (body.get("channel") or {}).get("id")
    message = body.get("message") or {}
    turn = Turn(
        team_id=team_of(body),
        user_id=body["user"]["id"],
        channel_id=channel,
        where=where_of(channel) if channel else Where.direct,
        thread_ts=message.get("thread_ts"),
        message_ts=message.get("ts"),
        response_url=body.get("response_url"),
        trigger_id=body.get("trigger_id"),
    )
    return turn, Shortcut(body.get("callback_id") or ""), f"slack:sc:{body.get('trigger_id')}"


def parse_metadata(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def submission_turn(body: dict[str, Any]) -> tuple[Turn, Submission, str]:
    view = body["view"]
    meta = parse_metadata(view.get("private_metadata") or "")
    kinds: dict[str, str] = meta.get("k") or {}
    values: dict[str, Any] = {}
    for block_id, actions in (view.get("state") or {}).get("values", {}).items():
        for element in actions.values():
            kind = kinds.get(block_id) or element_kind(element.get("type", ""))
            values[block_id] = coerce(kind, element)
    turn = Turn(
        team_id=team_of(body),
        user_id=body["user"]["id"],
        channel_id=meta.get("c"),
        where=Where(meta.get("w", "direct")),
        thread_ts=meta.get("t"),
        view_id=view.get("id"),
    )
    digest = json.dumps(values, sort_keys=True, default=str)
    key = f"slack:view:{view.get('id')}:{hashlib.sha256(digest.encode()).hexdigest()[:32]}"
    return turn, Submission(str(meta.get("f") or view.get("callback_id") or ""), values, str(meta.get("s") or "")), key


def coerce(kind: str, element: dict[str, Any]) -> Any:
    """A Slack input's state → the neutral field type (Slack already enforced required and number bounds)."""
    etype = element.get("type")
    if etype in ("static_select", "radio_buttons"):
        return (element.get("selected_option") or {}).get("value")
    if etype in ("multi_static_select", "checkboxes"):
        chosen = [o.get("value") for o in element.get("selected_options") or []]
        return bool(chosen) if kind == "checkbox" else chosen
    if etype == "datepicker":
        return element.get("selected_date")
    if etype == "timepicker":
        return element.get("selected_time")
    value = element.get("value")
    if kind == "number" and value not in (None, ""):
        try:
            num = float(value)
        except ValueError:
            return value
        return int(num) if num.is_integer() else num
    return value if value not in ("",) else None


def build_request(identity: Identity, turn: Turn, intent: Any, key: str, **extra: Any) -> Request:
    return Request(identity=identity, intent=intent, place=turn.place(), event_id=key, **extra)


class ClickGate:
    """Drops a second click of the same user on the same button of the same message within DOUBLE_CLICK_SECONDS,
    across processes: the window keys live in the foundation's processed_events table (see the module doc)."""

    def __init__(self, db: Database, clock: Clock, window: float = DOUBLE_CLICK_SECONDS) -> None:
        self.db = db
        self.clock = clock
        self.window = window

    def keys(self, click: str, action_ts: str | None) -> tuple[str, str]:
        try:
            at = float(action_ts) if action_ts else time.time()
        except ValueError:
            at = time.time()
        n = math.floor(at / self.window)
        return f"slack:click:{click}:{n}", f"slack:click:{click}:{n + 1}"

    async def first(self, click: str, action_ts: str | None) -> bool:
        """True for the first click; claims its window keys (committed at once, before the click's effect)."""
        async with self.db.session() as session:
            session.add_all(ProcessedEvent(key=key, at=self.clock.now()) for key in self.keys(click, action_ts))
            try:
                await session.commit()
            except IntegrityError:
                await session.rollback()
                return False
        return True


class IdentityCache:
    """users.info answers, kept for IDENTITY_TTL (Slack's Tier 4 limit; names and timezones rarely change)."""

    def __init__(self, team_field: str | None, clock: Any) -> None:
        self.team_field = team_field
        self.clock = clock
        self.entries: dict[tuple[str, str], tuple[dt.datetime, Identity]] = {}

    async def get(self, client: Any, team_id: str, user_id: str) -> Identity:
        key = (team_id, user_id)
        now = self.clock.now()
        hit = self.entries.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        try:
            resp = await client.users_info(user=user_id, include_locale=True)
            identity = self.from_user(team_id, resp["user"])
        except Exception as e:  # users.info failing must not stop the person from being answered
            log.warning("users.info failed for a user in %s: %s", team_id, type(e).__name__)
            return hit[1] if hit else Identity("slack", team_id, user_id)
        self.entries[key] = (now + IDENTITY_TTL, identity)
        return identity

    def from_user(self, team_id: str, user: dict[str, Any]) -> Identity:
        profile = user.get("profile") or {}
        name = profile.get("display_name") or profile.get("real_name") or user.get("real_name") or user.get("name")
        team = None
        if self.team_field:
            raw = profile.get(self.team_field)
            if raw is None:
                raw = ((profile.get("fields") or {}).get(self.team_field) or {}).get("value")
            team = str(raw).strip()[:120] if raw else None
        return Identity(
            platform="slack",
            workspace=team_id or user.get("team_id", ""),
            user_id=user["id"],
            display_name=str(name or user["id"])[:200],
            timezone=user.get("tz"),
            locale=user.get("locale"),
            team=team,
        )
