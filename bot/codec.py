"""Serialise the neutral message model to JSON and back, for outbox rows and form state."""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

from bot import model

_TYPES: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        model.Message,
        model.Section,
        model.Context,
        model.Divider,
        model.Actions,
        model.Button,
        model.Confirm,
        model.Option,
        model.Select,
        model.Fact,
    )
}


def dump(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {"_t": type(value).__name__}
        for f in dataclasses.fields(value):
            out[f.name] = dump(getattr(value, f.name))
        return out
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [dump(v) for v in value]
    if isinstance(value, dict):
        return {k: dump(v) for k, v in value.items()}
    return value


def load(data: Any) -> Any:
    if isinstance(data, dict) and "_t" in data:
        cls = _TYPES[data["_t"]]
        kwargs: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name in data:
                v = load(data[f.name])
                kwargs[f.name] = tuple(v) if isinstance(v, list) else v
        if cls is model.Button and "style" in kwargs:
            kwargs["style"] = model.Style(kwargs["style"])
        return cls(**kwargs)
    if isinstance(data, list):
        return [load(v) for v in data]
    return data


def dump_message(msg: model.Message) -> dict[str, Any]:
    return dump(msg)  # type: ignore[no-any-return]


def load_message(data: dict[str, Any]) -> model.Message:
    msg = load(data)
    assert isinstance(msg, model.Message)
    return msg
