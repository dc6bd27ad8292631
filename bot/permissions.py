"""Who may do what: the one place permission decisions are made.

Roles are per rollout and ordered (employee < champion < change lead < admin). Bootstrapping admins come from
configuration by platform identity. Object-level rules (a champion sees their own team's reports) are named
rules registered here so every check goes through `allowed()`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.model import Role, UserError


class Denied(UserError):
    """The person may not do this; the router answers with the message and writes an audit entry."""

    def __init__(self, what: str, needed: Role) -> None:
        super().__init__(f"Sorry, only a {needed.label} can {what}. Ask your change lead if you need access.")
        self.what = what
        self.needed = needed


def require(role: Role, needed: Role, what: str) -> None:
    if role < needed:
        raise Denied(what, needed)


Rule = Callable[..., bool]
_rules: dict[str, Rule] = {}


def rule(name: str) -> Callable[[Rule], Rule]:
    """Register an object-level rule, e.g. `@rule("friction.view")` taking (ctx, obj) -> bool."""

    def deco(fn: Rule) -> Rule:
        _rules[name] = fn
        return fn

    return deco


def allowed(name: str, ctx: Any, obj: Any = None) -> bool:
    try:
        check = _rules[name]
    except KeyError:
        raise LookupError(f"no permission rule named {name!r}") from None
    return bool(check(ctx, obj))


def ensure(name: str, ctx: Any, obj: Any = None, *, what: str, needed: Role = Role.change_lead) -> None:
    if not allowed(name, ctx, obj):
        raise Denied(what, needed)
