"""Outgoing activities as Bot Framework wire JSON without msrest's generic serializer.

msrest's `Serializer.body(activity, "Activity")` walks every attribute of every model through its type registry,
validation and key transformers: 13-15 % of the server's samples under load, for activities Uptake builds itself
from plain dicts (Adaptive Card content is JSON already). `wire()` writes the same JSON (equal as parsed JSON; a
test compares it with msrest's for cards, mentions, replies and updates): the attribute maps are read once per
model class, `None` is left out as msrest does, card content is passed through. Anything outside the plain types
(a datetime, an unknown model type) falls back to msrest for that activity, so the output never differs.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from botbuilder.schema import Activity, ActivityTypes
from botframework.connector import Channels
from msrest.serialization import Model, Serializer

_BASIC = {"str", "bool", "int", "float"}
_fields: dict[type, list[tuple[str, str, str]]] = {}
_msrest: Serializer | None = None
_NO_REPLY_TO = (Channels.direct_line, Channels.webchat)  # channels whose replies carry no replyToId (botbuilder)


class _Fallback(Exception):
    """A value this fast path does not handle: msrest serializes the whole activity."""


def _map(cls: type) -> list[tuple[str, str, str]]:
    fields = _fields.get(cls)
    if fields is None:
        fields = [(attr, m["key"], m["type"]) for attr, m in cls._attribute_map.items() if m["key"]]  # type: ignore[attr-defined]
        if any("." in key for _, key, _ in fields):  # flattened keys: msrest's business
            raise _Fallback(cls.__name__)
        _fields[cls] = fields
    return fields


def _dump(obj: Model) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for attr, key, kind in _map(type(obj)):
        value = getattr(obj, attr, None)
        if value is None:
            continue
        if kind in _BASIC:
            if isinstance(value, Enum):
                value = value.value
            elif kind == "str" and not isinstance(value, str):
                raise _Fallback(attr)
        elif kind == "object":
            pass  # JSON already (card content, channelData); msrest copies it unchanged
        elif kind.startswith("["):
            if not isinstance(value, list):
                raise _Fallback(attr)
            value = [_dump(v) if isinstance(v, Model) else _plain(v, kind) for v in value]
        elif isinstance(value, Model):
            value = _dump(value)
        else:
            raise _Fallback(attr)  # iso-8601 timestamps and the like
        out[key] = value
    return out


def _plain(value: Any, kind: str) -> Any:
    if kind == "[str]" and isinstance(value, str):
        return value
    raise _Fallback(kind)


def wire(activity: Activity) -> dict[str, Any]:
    """The JSON msrest would send for `activity`."""
    global _msrest
    try:
        return _dump(activity)
    except _Fallback:
        if _msrest is None:
            import botbuilder.schema as schema

            _msrest = Serializer({k: v for k, v in vars(schema).items() if isinstance(v, type)})
        return dict(_msrest.body(activity, "Activity"))


class Envelope:
    """The addressing part of every reply in one turn, computed once (TurnContext.apply_conversation_reference's
    fields, as TurnContext.send_activities and update_activity set them on each outgoing activity)."""

    def __init__(self, inbound: Activity) -> None:
        # TurnContext.get_conversation_reference's fields, read in place (it copies four models to hand them over).
        a = inbound
        plain_reply = a.type != ActivityTypes.conversation_update and a.channel_id not in _NO_REPLY_TO
        self.reply_to_id: str | None = a.id if plain_reply else None
        self.conversation_id = str(a.conversation.id) if a.conversation is not None else ""
        self.service_url = str(a.service_url or "")
        fields: dict[str, Any] = {
            "serviceUrl": a.service_url,
            "channelId": a.channel_id,
            "from": _dump(a.recipient) if a.recipient is not None else None,
            "conversation": _dump(a.conversation) if a.conversation is not None else None,
            "recipient": _dump(a.from_property) if a.from_property is not None else None,
            "locale": a.locale,
        }
        self.fields = {k: v for k, v in fields.items() if v is not None}

    def reply(self, activity: Activity) -> dict[str, Any]:
        """What TurnContext.send_activities posts for `activity` (a copy addressed to this conversation, no id,
        inputHint defaulting to acceptingInput, replyToId the inbound activity)."""
        body = wire(activity)
        body.pop("id", None)
        if not body.get("type"):
            body["type"] = "message"
        body.update(self.fields)
        if not body.get("inputHint"):
            body["inputHint"] = "acceptingInput"
        if self.reply_to_id:
            body["replyToId"] = self.reply_to_id
        return body

    def update(self, activity: Activity) -> dict[str, Any]:
        """What TurnContext.update_activity puts for `activity` (its id is the activity replaced)."""
        body = wire(activity)
        body.update(self.fields)
        if self.reply_to_id:
            body["replyToId"] = self.reply_to_id
        return body


# ---------------------------------------------------------------- inbound

_readers: dict[type, tuple[dict[str, tuple[str, str]], frozenset[str]]] = {}
_models: dict[str, type] = {}


def _reader(cls: type) -> tuple[dict[str, tuple[str, str]], frozenset[str]]:
    found = _readers.get(cls)
    if found is None:
        if getattr(cls, "_validation", None) or getattr(cls, "_subtype_map", None):
            raise _Fallback(cls.__name__)  # readonly, constant or polymorphic fields: msrest's business
        by_key = {m["key"]: (attr, m["type"]) for attr, m in cls._attribute_map.items() if m["key"]}  # type: ignore[attr-defined]
        if any("." in key for key in by_key):
            raise _Fallback(cls.__name__)
        found = _readers[cls] = (by_key, frozenset(by_key))
    return found


def _model(name: str) -> type:
    if not _models:
        import botbuilder.schema as schema

        _models.update({k: v for k, v in vars(schema).items() if isinstance(v, type) and issubclass(v, Model)})
    cls = _models.get(name)
    if cls is None:
        raise _Fallback(name)
    return cls


def _value(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind == "str":
        return value if isinstance(value, str) else str(value)
    if kind == "object" or (kind == "{object}" and isinstance(value, dict)):
        return value  # freshly parsed JSON that nothing else holds: msrest's deep copy would be equal
    if kind == "bool":
        if value in (True, False, 1, 0) and not isinstance(value, float):
            return bool(value)
        raise _Fallback(kind)
    if kind.startswith("[") and isinstance(value, list):
        inner = kind[1:-1]
        return [_value(v, inner) for v in value]
    if kind == "iso-8601":
        from msrest.serialization import Deserializer

        return Deserializer.deserialize_iso(value)
    if isinstance(value, dict) and kind[:1].isupper():
        return _read(_model(kind), value)
    raise _Fallback(kind)


def _read(cls: type, data: dict[str, Any]) -> Any:
    by_key, known = _reader(cls)
    kwargs: dict[str, Any] = {attr: None for attr, _ in by_key.values()}
    for key, value in data.items():
        field = by_key.get(key)
        if field is not None:
            kwargs[field[0]] = _value(value, field[1])
    obj = cls(**kwargs)
    extra = data.keys() - known
    if extra:
        obj.additional_properties = {k: data[k] for k in extra}
    return obj


def read_activity(body: dict[str, Any]) -> Activity:
    """The Activity botbuilder's `Activity().deserialize(body)` builds (equal model for model; a test compares
    them), in a fraction of its time: the attribute maps are read once per class. Anything unusual (a value of the
    wrong shape, a model msrest validates) takes msrest's own path."""
    try:
        return _read(Activity, body)  # type: ignore[no-any-return]
    except _Fallback:
        return Activity().deserialize(body)
