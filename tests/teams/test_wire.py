"""teams_wire writes the JSON msrest would: replies and updates compared with botbuilder's own path.

The reference side is botbuilder itself: a TurnContext on a recording BotAdapter (so TurnContext.send_activities /
update_activity address the activity exactly as in a real turn) and the ConnectorClient's own msrest serializer,
which is what `ConversationsOperations.reply_to_activity` / `update_activity` put in the request body.
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest
from botbuilder.core import BotAdapter, TurnContext
from botbuilder.schema import Activity, ActivityTypes, Attachment, ConversationReference, ResourceResponse
from botframework.connector import BotFrameworkConnectorConfiguration
from botframework.connector.aio import ConnectorClient
from botframework.connector.auth import MicrosoftAppCredentials
from msrest.exceptions import DeserializationError

from bot.adapters.teams_cards import CARD_CONTENT_TYPE, form_card
from bot.adapters.teams_sender import card_activities
from bot.adapters.teams_wire import Envelope, read_activity, wire
from bot.model import (
    Actions,
    Button,
    Confirm,
    Context,
    Divider,
    Fact,
    Form,
    FormField,
    Message,
    Option,
    Section,
    Select,
    Style,
    lit,
)


class Recording(BotAdapter):  # type: ignore[misc]
    """Keeps what TurnContext hands the adapter to send or update (instead of calling a connector)."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[Activity] = []
        self.updated: list[Activity] = []

    async def send_activities(self, context: TurnContext, activities: list[Activity]) -> list[ResourceResponse]:
        self.sent.extend(activities)
        return [ResourceResponse(id="x") for _ in activities]

    async def update_activity(self, context: TurnContext, activity: Activity) -> None:
        self.updated.append(activity)

    async def delete_activity(self, context: TurnContext, reference: ConversationReference) -> None:
        raise NotImplementedError


SERIALIZER = ConnectorClient(
    None, custom_configuration=BotFrameworkConnectorConfiguration(MicrosoftAppCredentials.empty(), "http://x/")
)._serialize


def msrest_body(activity: Activity) -> dict[str, Any]:
    return dict(SERIALIZER.body(activity, "Activity"))


def inbound(kind: str) -> Activity:
    return Activity().deserialize(inbound_body(kind))


def inbound_body(kind: str) -> dict[str, Any]:
    """Activities in the shapes Teams sends (and a few odd ones)."""
    base: dict[str, Any] = {
        "type": "message",
        "id": "1700000000001",
        "serviceUrl": "https://smba.trafficmanager.net/emea/",
        "channelId": "msteams",
        "from": {"id": "29:abc", "name": "Ana Ávila", "aadObjectId": "aad-1", "role": "user", "extra": 1},
        "recipient": {"id": "28:bot", "name": "Uptake"},
        "conversation": {"id": "a:personal", "conversationType": "personal", "tenantId": "t1", "isGroup": False},
        "channelData": {"tenant": {"id": "t1"}},
        "locale": "de-DE",
        "timestamp": "2026-11-24T01:00:00.123Z",
        "entities": [{"type": "clientInfo", "timezone": "Europe/Berlin", "locale": "de-DE"}],
        "text": "help",
    }
    if kind == "mention":
        base["conversation"] = {
            "id": "19:chan@thread.tacv2;messageid=1699",
            "conversationType": "channel",
            "tenantId": "t1",
            "isGroup": True,
            "name": "General",
        }
        base["channelData"] = {"tenant": {"id": "t1"}, "team": {"id": "19:team"}, "channel": {"id": "19:chan"}}
        base["entities"] = [
            {"type": "mention", "mentioned": {"id": "28:bot", "name": "Uptake"}, "text": "<at>Uptake</at>"}
        ]
        base["text"] = "<at>Uptake</at> help"
    elif kind == "submit":
        base["replyToId"] = "1699999999999"
        base["value"] = {"uptake": {"t": "a", "a": "friction.approve", "v": "12"}}
        base.pop("text")
    elif kind == "invoke":
        base.update(type="invoke", name="adaptiveCard/action", replyToId="1699")
        base["value"] = {"action": {"type": "Action.Execute", "data": {"uptake": {"t": "a", "a": "x", "v": "1"}}}}
    elif kind == "install":
        base.update(type="conversationUpdate", membersAdded=[{"id": "28:bot"}])
        base.pop("id")
    elif kind == "bare":  # no locale, no name, group chat
        base.pop("locale")
        base["from"] = {"id": "29:x"}
        base["conversation"] = {"id": "19:group@thread.v2", "conversationType": "groupChat"}
        base["unknownTopLevel"] = {"kept": True}
    elif kind == "odd":  # values of the wrong type: msrest's coercions (or its own path) decide
        base["text"] = 12
        base["conversation"]["isGroup"] = "true"
        base["membersAdded"] = [{"id": 5, "name": None}]
        base["localTimestamp"] = "2026-11-24T02:00:00.000+01:00"
    elif kind == "broken":
        base["from"] = "not an account"
    return base


MESSAGES = [
    Message("Here's what I can do.", (Section(heading="What I can do", text="• `help` — this\n• `ask` — a question"),)),
    Message(
        f"Report from {lit('[x](https://evil.example)')}",
        (
            Section(
                heading="Friction *reported*",
                text=f"By {lit('Ana *bold*')}",
                facts=(Fact("Team", "Claims"), Fact("Seen", lit("3×"))),
                user_text="<b>quoted</b> _text_",
                buttons=(
                    Button("Approve", "friction.approve", "12", style=Style.primary),
                    Button("Delete", "x.del", "1", style=Style.danger, confirm=Confirm("Sure?", "Gone.")),
                    Button("Open", "x", url="https://uptake.example/r/1"),
                ),
            ),
            Divider(),
            Context("Updated just now"),
            Actions(select=Select("Pick", "x.pick", (Option("A", "a"), Option("B", "b", "second")), initial="b")),
        ),
    ),
    Message("", ()),  # an empty summary is still sent as ""
    Message("Long", tuple(Section(heading=f"Part {i}", text="word " * 1500) for i in range(6))),
]
FORM = Form(
    "f.x",
    "Book a session",
    (
        FormField("topic", "Topic", max_length=100, placeholder="what about?"),
        FormField("notes", "Notes", kind="long_text", required=False),
        FormField("when", "Day", kind="date"),
        FormField("at", "Time", kind="time"),
        FormField("n", "People", kind="number", min_value=1, max_value=9, initial=2),
        FormField("ok", "Remind me", kind="checkbox", initial=True),
        FormField("team", "Team", kind="select", options=(Option("Claims", "c"), Option("IT", "i"))),
    ),
    errors={"topic": "Too short.", "_": "Please fix."},
)


def outgoing() -> list[Activity]:
    out = [act for m in MESSAGES for act in card_activities(m)]
    out.append(
        Activity(
            type=ActivityTypes.message,
            summary="Book a session",
            attachments=[Attachment(content_type=CARD_CONTENT_TYPE, content=form_card(FORM))],
        )
    )
    out.append(Activity(type="message", text="plain text", input_hint="ignoringInput"))
    out.append(Activity(text="no type given"))
    return out


KINDS = ["personal", "mention", "submit", "invoke", "install", "bare"]


@pytest.mark.parametrize("kind", [*KINDS, "odd"])
def test_inbound_activities_read_as_msrest_reads_them(kind: str) -> None:
    ours = read_activity(copy.deepcopy(inbound_body(kind)))
    theirs = Activity().deserialize(inbound_body(kind))
    assert ours == theirs  # msrest models compare attribute by attribute, nested models too
    assert ours.from_property == theirs.from_property and ours.conversation == theirs.conversation
    assert ours.serialize() == theirs.serialize()


def test_inbound_that_msrest_refuses_is_refused() -> None:
    with pytest.raises(DeserializationError):
        Activity().deserialize(inbound_body("broken"))
    with pytest.raises(DeserializationError):
        read_activity(inbound_body("broken"))


@pytest.mark.parametrize("kind", KINDS)
async def test_replies_are_what_msrest_sends(kind: str) -> None:
    adapter = Recording()
    ctx = TurnContext(adapter, inbound(kind))
    activities = outgoing()
    assert len(activities) > 6  # the long message split into several cards
    env = Envelope(ctx.activity)
    ours = [env.reply(act) for act in activities]
    await ctx.send_activities(activities)
    theirs = [msrest_body(act) for act in adapter.sent]
    assert ours == theirs
    # addressed like botbuilder's CloudAdapter would: reply to the inbound activity, except for installs
    assert all(("replyToId" in body) == (kind != "install") for body in ours)
    assert all(body["conversation"]["id"] == ctx.activity.conversation.id for body in ours)


@pytest.mark.parametrize("kind", ["submit", "invoke", "bare"])
async def test_updates_are_what_msrest_puts(kind: str) -> None:
    adapter = Recording()
    ctx = TurnContext(adapter, inbound(kind))
    update = Activity(
        type=ActivityTypes.message,
        id="1699999999999",
        attachments=[Attachment(content_type=CARD_CONTENT_TYPE, content=form_card(FORM))],
    )
    ours = Envelope(ctx.activity).update(update)
    await ctx.update_activity(update)
    assert ours == msrest_body(adapter.updated[0])
    assert ours["id"] == "1699999999999"


def test_anything_else_falls_back_to_msrest() -> None:
    stamped = Activity(type="message", text="hi", timestamp=dt.datetime(2026, 11, 24, 1, 2, 3, tzinfo=dt.UTC))
    assert wire(stamped) == msrest_body(stamped)
    assert wire(stamped)["timestamp"].startswith("2026-11-24T01:02:03")


@pytest.mark.parametrize("message", MESSAGES, ids=["help", "rich", "empty", "long"])
def test_outbox_cards_are_what_send_to_conversation_posts(message: Message) -> None:
    """The outbox posts `wire(activity)` where ConversationsOperations.send_to_conversation serialised the same
    activity with msrest: the bodies are equal card for card."""
    activities = card_activities(message)
    assert activities
    for act in activities:
        assert wire(act) == msrest_body(act)
