"""The `uptake` command line: serve, worker, chat, db, people, content, demo (and capability groups)."""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import logging
import sys
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import typer

from bot.config import Settings, get_settings

T = TypeVar("T")

app = typer.Typer(
    help="Uptake: make a software rollout stick, in Slack and Teams.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema migrations.", no_args_is_help=True)
people_app = typer.Typer(help="People, teams and roles.", no_args_is_help=True)
content_app = typer.Typer(help="Content files (FAQ, surveys, templates).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(people_app, name="people")
app.add_typer(content_app, name="content")

QUIET = (
    "slack_bolt",
    "slack_sdk",
    "httpx",
    "httpcore",
    "botbuilder",
    "botframework",
    "msrest",
    "aiohttp.access",
    "urllib3",
    "asyncio",
    "apscheduler",
)


def setup_logging(settings: Settings) -> None:
    level = getattr(logging, settings.log_level.upper(), logging.INFO)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for name in QUIET:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
    logging.getLogger("alembic").setLevel(logging.WARNING)


def fail(message: str, code: int = 2) -> None:
    typer.echo(f"uptake: {message}", err=True)
    raise typer.Exit(code)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def prepare(settings: Settings, *, migrate: bool = True, content: bool = True) -> Any:
    """Build the runtime; check the database (exit 2 with the redacted URL), migrate, load content."""
    from bot.content import ContentError
    from bot.db import upgrade
    from bot.runtime import Runtime, sync_rollout

    rt = Runtime(settings)
    try:
        await rt.db.ping(timeout=10)
    except Exception as e:
        await rt.db.close()
        fail(f"cannot reach the database at {settings.db_url_safe}: {type(e).__name__}: {str(e)[:200]}")
    if migrate:
        await asyncio.to_thread(upgrade, settings.db_url)
    if content:
        try:
            rt.load_content()
        except ContentError as e:
            await rt.db.close()
            fail(f"content error: {e}")
    async with rt.db.session() as session:
        await sync_rollout(session, settings.content_dir, settings.rollout)
        await session.commit()
    return rt


def export_command(produce: Callable[[Any, Any, Any], Awaitable[str]], output: Path | None) -> None:
    """Shared body of `uptake <capability> export`: start the runtime, produce text for the default rollout,
    write it to `output` or stdout."""
    settings = get_settings()
    setup_logging(settings)

    async def main() -> str:
        rt = await prepare(settings)
        try:
            async with rt.db.session() as session:
                return await produce(session, await rt.default_rollout(session), rt)
        finally:
            await rt.close()

    text = run(main())
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {output}", err=True)


@app.command()
def serve(
    host: str = typer.Option(None, help="Bind address (UPTAKE_HOST, default 127.0.0.1)"),
    port: int = typer.Option(None, help="Port (UPTAKE_PORT, default 3978)"),
    worker: bool = typer.Option(True, "--worker/--no-worker", help="Run the scheduler and outbox sender here"),
    migrate: bool = typer.Option(True, "--migrate/--no-migrate", help="Upgrade the database schema on start"),
) -> None:
    """Run the server (Slack events, Teams messages, health) and, by default, the worker."""
    from bot.web import serve as serve_app

    settings = get_settings()
    if host:
        settings.host = host
    if port:
        settings.port = port
    setup_logging(settings)

    async def main() -> None:
        rt = await prepare(settings, migrate=migrate)
        await serve_app(rt, host=settings.host, port=settings.port, worker=worker)

    run(main())


@app.command("worker")
def worker_cmd(once: bool = typer.Option(False, help="Send what is due now and exit")) -> None:
    """Run only the worker (scheduler + outbox sender), for scaled-out deployments."""
    from bot.worker import Worker

    settings = get_settings()
    setup_logging(settings)

    async def main() -> None:
        rt = await prepare(settings, migrate=False)
        from bot.adapters import PLATFORM_MODULES

        for name in PLATFORM_MODULES:
            if importlib.util.find_spec(name) is not None:
                module = importlib.import_module(name)
                register = getattr(module, "register_sender", None)
                if register is not None:
                    logging.getLogger("uptake").info("%s", await register(rt))
        if once:
            from bot.delivery import drain

            n = await drain(rt)
            typer.echo(f"sent or settled {n} outbox rows")
            await rt.close()
            return
        bg = Worker(rt)
        await bg.start()
        stop = asyncio.Event()
        import signal

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await bg.close()
        await rt.close()

    run(main())


@app.command()
def chat(
    as_: str = typer.Option("You", "--as", help="Who you are (a demo person's first name works)"),
    role: str = typer.Option(None, help="Your role for this session: employee, champion, change-lead, admin"),
) -> None:
    """Chat with Uptake in the terminal, through the same handlers as Slack and Teams."""
    from bot.adapters.console import run_chat
    from bot.demo import console_user_id
    from bot.model import Identity, Role
    from bot.people import resolve_person, set_role

    settings = get_settings()
    settings.log_level = "WARNING" if settings.log_level.upper() == "INFO" else settings.log_level
    setup_logging(settings)
    identity = Identity("console", "local", console_user_id(as_))

    async def main() -> None:
        from sqlalchemy import select

        from bot.tables import PlatformIdentity

        rt = await prepare(settings)
        async with rt.db.session() as session:
            known = await session.scalar(
                select(PlatformIdentity.id).where(
                    PlatformIdentity.platform == "console", PlatformIdentity.user_id == identity.user_id
                )
            )
            first = identity if known else Identity("console", "local", identity.user_id, display_name=as_)
            person, _ = await resolve_person(session, first, rt.clock.now())
            if role:
                try:
                    wanted = Role.parse(role)
                except ValueError as e:
                    fail(str(e))
                await set_role(session, await rt.default_rollout(session), person, wanted)
            await session.commit()
        await run_chat(rt, identity)
        await rt.close()

    run(main())


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("heads")) -> None:
    """Upgrade the schema (default: to the newest revision)."""
    from bot.db import upgrade

    settings = get_settings()
    setup_logging(settings)

    async def check() -> None:
        from bot.db import Database

        db = Database(settings.db_url)
        try:
            await db.ping(timeout=10)
        except Exception as e:
            fail(f"cannot reach the database at {settings.db_url_safe}: {type(e).__name__}")
        finally:
            await db.close()

    run(check())
    upgrade(settings.db_url, revision)
    typer.echo(f"database at {settings.db_url_safe} upgraded to {revision}")


@db_app.command("downgrade")
def db_downgrade(
    revision: str = typer.Argument(..., help="Target revision, or 'base' for an empty schema"),
) -> None:
    """Downgrade the schema."""
    from bot.db import downgrade

    settings = get_settings()
    downgrade(settings.db_url, revision)
    typer.echo(f"database downgraded to {revision}")


@people_app.command("import")
def people_import(
    path: Path = typer.Argument(..., exists=True, readable=True),
    slack_workspace: str = typer.Option("", help="Slack team id the slack_id column belongs to"),
    teams_tenant: str = typer.Option("", help="Teams tenant id the teams_id column belongs to"),
) -> None:
    """Load people from an HR export CSV: name (required), email, team, role, timezone, locale, slack_id,
    teams_id. All rows or none are applied."""
    from bot.model import UserError
    from bot.people import import_people

    settings = get_settings()
    setup_logging(settings)

    text = path.read_text(encoding="utf-8-sig")

    async def main() -> None:
        rt = await prepare(settings)
        try:
            async with rt.db.session() as session:
                rollout = await rt.default_rollout(session)
                res = await import_people(
                    session,
                    rollout,
                    text,
                    slack_workspace=slack_workspace,
                    teams_tenant=teams_tenant,
                )
                await session.commit()
        except UserError as e:
            await rt.close()
            fail(f"{path}: {e.message}; nothing was imported")
        typer.echo(f"imported: {res.created} new, {res.updated} updated, {res.roles} roles set")
        await rt.close()

    run(main())


def _role_change(person: str, role: str, grant: bool) -> None:
    from bot.model import Role, UserError
    from bot.people import find_person, set_role
    from bot.tables import AuditEntry

    settings = get_settings()
    setup_logging(settings)
    try:
        wanted = Role.parse(role)
    except ValueError as e:
        fail(str(e))

    async def main() -> None:
        rt = await prepare(settings)
        try:
            async with rt.db.session() as session:
                rollout = await rt.default_rollout(session)
                p = await find_person(session, person)
                before = await set_role(session, rollout, p, wanted if grant else Role.employee)
                session.add(
                    AuditEntry(
                        rollout_id=rollout.id,
                        action="role.grant" if grant else "role.revoke",
                        object_type="person",
                        object_id=str(p.id),
                        summary=f"cli: {before.label} -> {(wanted if grant else Role.employee).label}",
                    )
                )
                await session.commit()
        except UserError as e:
            await rt.close()
            fail(e.message)
        typer.echo(f"{p.display_name}: {before.label} -> {(wanted if grant else Role.employee).label}")
        await rt.close()

    run(main())


@people_app.command("grant")
def people_grant(person: str, role: str) -> None:
    """Give PERSON (name, email or #id) ROLE in the default rollout."""
    _role_change(person, role, True)


@people_app.command("revoke")
def people_revoke(person: str, role: str) -> None:
    """Take ROLE from PERSON (they become an employee)."""
    _role_change(person, role, False)


@content_app.command("check")
def content_check() -> None:
    """Validate every content file; errors name file:line and the field."""
    import handlers  # noqa: F401
    from bot.content import ContentError, ContentStore
    from bot.registry import registry

    settings = get_settings()
    try:
        ContentStore().load(settings.content_dir, registry)
    except ContentError as e:
        fail(f"content error: {e}", code=1)
    typer.echo(f"content in {settings.content_dir} is valid")


@app.command()
def demo() -> None:
    """Fill the database with a believable pilot rollout (idempotent)."""
    from bot.demo import run_demo

    settings = get_settings()
    setup_logging(settings)

    async def main() -> None:
        rt = await prepare(settings)
        res = await run_demo(rt)
        await rt.close()
        typer.echo(
            f"demo ready: {res['people']} people ({res['people_created']} new) in the demo rollout. "
            "Try: uptake chat --as Ana"
        )

    run(main())


def main() -> None:
    import handlers  # noqa: F401
    from bot.registry import registry

    for name, group in registry.cli.items():
        app.add_typer(group, name=name)
    from bot.adapters import PLATFORM_MODULES

    for name in PLATFORM_MODULES:
        if importlib.util.find_spec(name) is not None:
            module = importlib.import_module(name)
            group = getattr(module, "cli", None)
            if group is not None:
                app.add_typer(group, name=name.rsplit(".", 1)[-1])
    app()


if __name__ == "__main__":
    main()
