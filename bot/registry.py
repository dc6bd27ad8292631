"""Capabilities register what they offer; the core discovers it here.

Each `handlers/<capability>.py` creates one `Capability` and decorates its functions. Adding a capability is
adding one module: the router, help, App Home, scheduler, digest and demo read this registry and never grow a
branch for a capability.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from bot.model import Role

if TYPE_CHECKING:
    from bot.context import Ctx, JobCtx
    from bot.model import Block, Reply, Request

Handler = Callable[["Request", "Ctx"], Awaitable["Reply"]]
JobFn = Callable[["JobCtx"], Awaitable[None]]
HomeFn = Callable[["Ctx"], Awaitable[list["Block"]]]
DigestFn = Callable[..., Awaitable[Any]]
DemoFn = Callable[..., Awaitable[None]]
ContentFn = Callable[..., Any]


@dataclasses.dataclass(frozen=True)
class CommandSpec:
    word: str
    handler: Handler
    capability: str
    aliases: tuple[str, ...] = ()
    help: str = ""
    usage: str = ""
    role: Role = Role.employee


@dataclasses.dataclass(frozen=True)
class ActionSpec:
    action_id: str
    handler: Handler
    capability: str
    role: Role = Role.employee


@dataclasses.dataclass(frozen=True)
class FormSpec:
    form_id: str
    handler: Handler
    capability: str
    role: Role = Role.employee


@dataclasses.dataclass(frozen=True)
class ShortcutSpec:
    """A message shortcut (Slack) / message action (Teams): runs on an existing message."""

    shortcut_id: str
    label: str
    handler: Handler
    capability: str
    role: Role = Role.employee


@dataclasses.dataclass(frozen=True)
class JobSpec:
    """A scheduled job. `cron` is a crontab expression in the rollout's timezone."""

    job_id: str
    fn: JobFn
    capability: str
    cron: str
    grace_seconds: int = 3600


@dataclasses.dataclass(frozen=True)
class HomeSpec:
    name: str
    fn: HomeFn
    capability: str
    order: int = 100


@dataclasses.dataclass(frozen=True)
class DigestSpec:
    name: str
    fn: DigestFn
    capability: str
    order: int = 100


@dataclasses.dataclass(frozen=True)
class DemoSpec:
    name: str
    fn: DemoFn
    capability: str
    order: int = 100


@dataclasses.dataclass(frozen=True)
class ContentSpec:
    """A content loader: validates files under content/ at start and on `content reload`."""

    name: str
    fn: ContentFn
    capability: str


class Registry:
    def __init__(self) -> None:
        self.commands: dict[str, CommandSpec] = {}
        self.words: dict[str, CommandSpec] = {}  # word or alias -> spec
        self.actions: dict[str, ActionSpec] = {}
        self.forms: dict[str, FormSpec] = {}
        self.shortcuts: dict[str, ShortcutSpec] = {}
        self.jobs: dict[str, JobSpec] = {}
        self.home: list[HomeSpec] = []
        self.digests: list[DigestSpec] = []
        self.demos: list[DemoSpec] = []
        self.content: list[ContentSpec] = []
        self.free_text: Handler | None = None
        self.cli: dict[str, Any] = {}  # command-line groups (typer.Typer) by name: `uptake <name> …`
        self.capabilities: dict[str, Capability] = {}
        # What is computed from the commands alone (the help list per role), kept between requests because the
        # registrations do not change while serving; anything that registers a command or free text clears it.
        self.derived: dict[Any, Any] = {}

    def add_command(self, spec: CommandSpec) -> None:
        self.derived.clear()
        for word in (spec.word, *spec.aliases):
            if word in self.words:
                raise ValueError(f"command word {word!r} registered twice")
            self.words[word] = spec
        self.commands[spec.word] = spec

    def _unique(self, table: dict[str, Any], key: str, what: str, value: Any) -> None:
        if key in table:
            raise ValueError(f"{what} {key!r} registered twice")
        table[key] = value

    def find_action(self, action_id: str) -> ActionSpec | None:
        """Exact id first, then the id's prefix before ':' (ids like `faq.helpful:123`)."""
        return self.actions.get(action_id) or self.actions.get(action_id.split(":", 1)[0])


registry = Registry()


class Capability:
    """One product capability's registrations, declared in one visible place in its module."""

    def __init__(self, name: str, reg: Registry | None = None) -> None:
        self.name = name
        self.reg = reg or registry
        if name in self.reg.capabilities:
            raise ValueError(f"capability {name!r} created twice")
        self.reg.capabilities[name] = self

    def command(
        self,
        word: str,
        *,
        aliases: tuple[str, ...] | list[str] = (),
        help: str = "",
        usage: str = "",
        role: Role = Role.employee,
    ) -> Callable[[Handler], Handler]:
        def deco(fn: Handler) -> Handler:
            text = help or (fn.__doc__ or "").strip().splitlines()[0] if (help or fn.__doc__) else ""
            self.reg.add_command(CommandSpec(word, fn, self.name, tuple(aliases), text, usage or word, role))
            return fn

        return deco

    def action(self, action_id: str, *, role: Role = Role.employee) -> Callable[[Handler], Handler]:
        def deco(fn: Handler) -> Handler:
            self.reg._unique(self.reg.actions, action_id, "action", ActionSpec(action_id, fn, self.name, role))
            return fn

        return deco

    def form(self, form_id: str, *, role: Role = Role.employee) -> Callable[[Handler], Handler]:
        def deco(fn: Handler) -> Handler:
            self.reg._unique(self.reg.forms, form_id, "form", FormSpec(form_id, fn, self.name, role))
            return fn

        return deco

    def shortcut(self, shortcut_id: str, label: str, *, role: Role = Role.employee) -> Callable[[Handler], Handler]:
        def deco(fn: Handler) -> Handler:
            spec = ShortcutSpec(shortcut_id, label, fn, self.name, role)
            self.reg._unique(self.reg.shortcuts, shortcut_id, "shortcut", spec)
            return fn

        return deco

    def job(self, job_id: str, *, cron: str, grace_seconds: int = 3600) -> Callable[[JobFn], JobFn]:
        def deco(fn: JobFn) -> JobFn:
            self.reg._unique(self.reg.jobs, job_id, "job", JobSpec(job_id, fn, self.name, cron, grace_seconds))
            return fn

        return deco

    def free_text(self, fn: Handler) -> Handler:
        """Free text in a DM or @mention (the FAQ capability claims this)."""
        if self.reg.free_text is not None:
            raise ValueError("free text handler registered twice")
        self.reg.free_text = fn
        self.reg.derived.clear()
        return fn

    def home(self, *, order: int = 100) -> Callable[[HomeFn], HomeFn]:
        def deco(fn: HomeFn) -> HomeFn:
            self.reg.home.append(HomeSpec(fn.__name__, fn, self.name, order))
            self.reg.home.sort(key=lambda s: s.order)
            return fn

        return deco

    def digest(self, *, order: int = 100) -> Callable[[DigestFn], DigestFn]:
        def deco(fn: DigestFn) -> DigestFn:
            self.reg.digests.append(DigestSpec(fn.__name__, fn, self.name, order))
            self.reg.digests.sort(key=lambda s: s.order)
            return fn

        return deco

    def demo(self, *, order: int = 100) -> Callable[[DemoFn], DemoFn]:
        def deco(fn: DemoFn) -> DemoFn:
            self.reg.demos.append(DemoSpec(fn.__name__, fn, self.name, order))
            self.reg.demos.sort(key=lambda s: s.order)
            return fn

        return deco

    def cli(self, name: str, help: str) -> Any:
        """A command-line group `uptake <name> …` for this capability (a typer.Typer to add commands to)."""
        import typer

        group = typer.Typer(help=help, no_args_is_help=True)
        self.reg._unique(self.reg.cli, name, "cli group", group)
        return group

    def content(self, name: str) -> Callable[[ContentFn], ContentFn]:
        def deco(fn: ContentFn) -> ContentFn:
            self.reg.content.append(ContentSpec(name, fn, self.name))
            return fn

        return deco
