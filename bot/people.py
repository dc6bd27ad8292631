"""People: from a platform identity to a person record and their role in a rollout; HR imports; grants."""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, exists, func, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapper, Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from bot.model import Identity, Role, UserError
from bot.tables import Membership, Person, PlatformIdentity, ProcessedEvent, Rollout

PROFILE_REFRESH = dt.timedelta(hours=12)
LAST_SEEN_EVERY = dt.timedelta(minutes=5)  # last_seen_at is written at most this often per identity


async def resolve_person(
    session: AsyncSession, identity: Identity, now: dt.datetime
) -> tuple[Person, PlatformIdentity]:
    """Find or create the person behind a platform identity, refreshing what the platform told us."""
    stmt = (
        select(PlatformIdentity, Person)
        .join(Person, Person.id == PlatformIdentity.person_id)
        .where(
            PlatformIdentity.platform == identity.platform,
            PlatformIdentity.workspace == identity.workspace,
            PlatformIdentity.user_id == identity.user_id,
        )
    )
    row = (await session.execute(stmt)).first()
    if row is not None:
        link, person = row
    else:
        # An HR import may have linked the user id before we knew the workspace: claim that link.
        link = await session.scalar(
            select(PlatformIdentity).where(
                PlatformIdentity.platform == identity.platform,
                PlatformIdentity.workspace == "*",
                PlatformIdentity.user_id == identity.user_id,
            )
        )
        if link is not None:
            link.workspace = identity.workspace
        else:
            person = Person(
                display_name=identity.display_name or identity.user_id,
                timezone=identity.timezone,
                locale=identity.locale,
                team=identity.team,
            )
            link = PlatformIdentity(
                person=person,
                platform=identity.platform,
                workspace=identity.workspace,
                user_id=identity.user_id,
                last_seen_at=now,
            )
            try:
                async with session.begin_nested():
                    session.add_all([person, link])
            except IntegrityError:
                # Two first requests from the same new person raced; the other one created the record.
                row = (await session.execute(stmt)).first()
                if row is None:
                    raise
                link, person = row
        person = await session.get_one(Person, link.person_id)
    refresh_profile(person, link, identity, now)
    return person, link


def refresh_profile(person: Person, link: PlatformIdentity, identity: Identity, now: dt.datetime) -> None:
    """Take over what the platform told us; `last_seen_at` at most every few minutes (no write per request)."""
    if identity.display_name and person.display_name != identity.display_name:
        person.display_name = identity.display_name
    if identity.timezone and person.timezone != identity.timezone:
        person.timezone = identity.timezone
    if identity.locale and person.locale != identity.locale:
        person.locale = identity.locale
    if identity.team and person.team != identity.team:
        person.team = identity.team
    if link.last_seen_at is None or now - link.last_seen_at > LAST_SEEN_EVERY:
        link.last_seen_at = now


@dataclass
class Caller:
    """Everything the router needs about who is asking, from one query (see `load_caller`)."""

    person: Person
    link: PlatformIdentity
    rollout: Rollout
    role: Role


class Duplicate(Exception):
    """The request's idempotency key is already recorded: a platform retry of something handled."""


def _caller_statement(with_key: bool) -> Any:
    """identity ⋈ person ⋈ rollout (by slug) ⟕ membership, plus "is the event key already processed?".

    Built once with bound parameters, so SQLAlchemy's compiled cache and asyncpg's prepared statements are hit on
    every request instead of building and compiling four statements.
    """
    seen = (
        exists().where(ProcessedEvent.key == bindparam("key")).label("seen")
        if with_key
        else bindparam("no_key", False).label("seen")
    )
    return (
        select(PlatformIdentity, Person, Rollout, Membership.role, seen)
        .join(Person, Person.id == PlatformIdentity.person_id)
        .join(Rollout, Rollout.slug == bindparam("slug"))
        .outerjoin(Membership, and_(Membership.rollout_id == Rollout.id, Membership.person_id == Person.id))
        .where(
            PlatformIdentity.platform == bindparam("platform"),
            PlatformIdentity.workspace == bindparam("workspace"),
            PlatformIdentity.user_id == bindparam("user_id"),
        )
    )


_CALLER = {True: _caller_statement(True), False: _caller_statement(False)}


async def load_caller(
    session: AsyncSession,
    identity: Identity,
    now: dt.datetime,
    *,
    slug: str,
    admins: set[tuple[str, str, str]],
    key: str | None = None,
) -> Caller | None:
    """The person, their identity link, the rollout `slug` and their role in it in ONE round trip; raises
    `Duplicate` if `key` is already processed.

    Nothing is cached across requests, so a grant, a revoke, a phase change or a profile edit in any process is
    seen by the very next request. Returns None when the identity or the rollout is not there yet (first contact,
    empty database): the caller then takes the slow path that creates them (`resolve_person`, `sync_rollout`).
    """
    row = (await session.execute(_CALLER[bool(key)], _caller_params(identity, slug, key))).first()
    if row is None:
        return None
    link, person, rollout, stored, seen = row
    if seen:
        raise Duplicate(key)
    refresh_profile(person, link, identity, now)
    role = _role((link.platform, link.workspace, link.user_id), stored, admins)
    return Caller(person=person, link=link, rollout=rollout, role=role)


def _caller_params(identity: Identity, slug: str, key: str | None) -> dict[str, Any]:
    """The parameters of `_CALLER`, for the session (`load_caller`) and the driver (`hot_caller`) alike."""
    params: dict[str, Any] = {
        "slug": slug,
        "platform": identity.platform,
        "workspace": identity.workspace,
        "user_id": identity.user_id,
    }
    if key:
        params["key"] = key
    else:
        params["no_key"] = False  # the driver binds every parameter explicitly (no bindparam defaults)
    return params


def _role(link: tuple[str, str, str], stored: str | None, admins: set[tuple[str, str, str]]) -> Role:
    """Configured admins are admins whatever the table says; no stored role is an employee."""
    if link in admins:
        return Role.admin
    return Role.parse(stored) if stored else Role.employee


def _columns(cls: type) -> list[str]:
    mapper: Mapper[Any] = inspect(cls)
    return [attr.key for attr in mapper.column_attrs]


_CALLER_COLUMNS = [(cls, _columns(cls)) for cls in (PlatformIdentity, Person, Rollout)]


@dataclass
class CallerRow:
    """Who is asking, as the driver returned it from one read (`hot_caller`): columns are converted (dates, JSON)
    and ORM objects built only for what a handler uses (`loaded`, bot.context.RowCtx), which for `help` and most
    answers is the rollout's id and name and nothing else."""

    link: dict[str, Any]
    person: dict[str, Any]
    rollout: dict[str, Any]
    role: Role
    processors: dict[str, Any]  # "table.column" -> SQLAlchemy's result processor (None: the value as is)

    def loaded(self, cls: type, values: dict[str, Any]) -> dict[str, Any]:
        table = cls.__tablename__  # type: ignore[attr-defined]
        out = {}
        for name, value in values.items():
            proc = self.processors.get(f"{table}.{name}")
            out[name] = value if proc is None or value is None else proc(value)
        return out

    def last_seen_at(self) -> dt.datetime | None:
        value = self.link["last_seen_at"]
        proc = self.processors.get("platform_identities.last_seen_at")
        return value if proc is None or value is None else proc(value)  # type: ignore[no-any-return]


async def hot_caller(
    db: Any, identity: Identity, *, slug: str, admins: set[tuple[str, str, str]], key: str | None = None
) -> CallerRow | None:
    """`load_caller`'s query on the driver (bot.db.HotPath): same statement, same freshness (nothing cached), no
    session. Raises `Duplicate` for a processed `key`; None on first contact (the caller takes the slow path)."""
    stmt = _CALLER[bool(key)]
    row = await db.hot.fetchone(stmt, _caller_params(identity, slug, key), raw=True)
    if row is None:
        return None
    if row[-1]:
        raise Duplicate(key)
    prep = db.hot.prepare(stmt)
    processors = prep.named
    if processors is None:
        names = [f"{cls.__tablename__}.{n}" for cls, cols in _CALLER_COLUMNS for n in cols]  # type: ignore[attr-defined]
        processors = prep.named = dict(zip(names, prep.results, strict=False))
    values: list[dict[str, Any]] = []
    i = 0
    for _cls, names in _CALLER_COLUMNS:
        values.append(dict(zip(names, row[i : i + len(names)], strict=True)))
        i += len(names)
    link, person, rollout = values
    stored = row[i]
    role = _role((link["platform"], link["workspace"], link["user_id"]), stored, admins)
    return CallerRow(link=link, person=person, rollout=rollout, role=role, processors=processors)


def needs_refresh(row: CallerRow, identity: Identity, now: dt.datetime) -> bool:
    """Would `refresh_profile` change anything (a profile field the platform sent, or a stale last_seen_at)?"""
    person = row.person
    if (
        (identity.display_name and person["display_name"] != identity.display_name)
        or (identity.timezone and person["timezone"] != identity.timezone)
        or (identity.locale and person["locale"] != identity.locale)
        or (identity.team and person["team"] != identity.team)
    ):
        return True
    seen = row.last_seen_at()
    return seen is None or now - seen > LAST_SEEN_EVERY


def attach(session: Session, cls: type, values: dict[str, Any]) -> Any:
    """The ORM object for a row already read, made persistent in `session` without a query (as if loaded): a
    handler's changes to it are flushed as usual. The session's own copy wins if it already has that row."""
    mapper: Mapper[Any] = inspect(cls)
    found = session.identity_map.get(mapper.identity_key_from_primary_key((values["id"],)))
    if found is not None:
        return found
    obj = mapper.class_manager.new_instance()
    for name, value in values.items():
        set_committed_value(obj, name, value)
    make_transient_to_detached(obj)
    session.add(obj)
    return obj


async def role_of(
    session: AsyncSession,
    person: Person,
    link: PlatformIdentity | None,
    rollout: Rollout,
    admins: set[tuple[str, str, str]],
) -> Role:
    if link is not None and (link.platform, link.workspace, link.user_id) in admins:
        return Role.admin
    stored = await session.scalar(
        select(Membership.role).where(Membership.rollout_id == rollout.id, Membership.person_id == person.id)
    )
    return Role.parse(stored) if stored else Role.employee


async def set_role(session: AsyncSession, rollout: Rollout, person: Person, role: Role) -> Role:
    """Give `person` exactly `role` in `rollout`; returns the role they had before."""
    m = await session.scalar(
        select(Membership).where(Membership.rollout_id == rollout.id, Membership.person_id == person.id)
    )
    before = Role.parse(m.role) if m else Role.employee
    if m is None:
        session.add(Membership(rollout_id=rollout.id, person_id=person.id, role=role.label))
    else:
        m.role = role.label
    await session.flush()
    return before


async def find_person(session: AsyncSession, ref: str) -> Person:
    """Find one person by id (#12), email, console/platform user id, or display name (case-insensitive)."""
    ref = ref.strip().lstrip("@")
    if not ref:
        raise UserError("Tell me who: a name, an email or a person number.")
    if ref.startswith("#") and ref[1:].isdigit():
        p = await session.get(Person, int(ref[1:]))
        if p:
            return p
        raise UserError(f"I know nobody with number {ref}.")
    if "@" in ref:
        p = await session.scalar(select(Person).where(func.lower(Person.email) == ref.lower()))
        if p:
            return p
    link = await session.scalar(select(PlatformIdentity).where(PlatformIdentity.user_id == ref))
    if link:
        return await session.get_one(Person, link.person_id)
    found = list(await session.scalars(select(Person).where(func.lower(Person.display_name) == ref.lower()).limit(3)))
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise UserError(f"More than one person is called {ref}; use their email or number instead.")
    raise UserError(f"I don't know anyone called {ref!r}. Check the spelling, or import people first.")


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    roles: int = 0


CSV_COLUMNS = ("name", "email", "team", "role", "timezone", "locale", "slack_id", "teams_id")


async def import_people(
    session: AsyncSession, rollout: Rollout, text: str, *, slack_workspace: str = "", teams_tenant: str = ""
) -> ImportResult:
    """Load people from an HR export (columns: name, email, team, role, timezone, locale, slack_id, teams_id).

    Only `name` is required. Rows are matched on email, then on platform ids; all rows or none are applied.
    """
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "name" not in [f.strip().lower() for f in reader.fieldnames]:
        raise UserError(f"The CSV needs a header row with at least a 'name' column (known: {', '.join(CSV_COLUMNS)}).")
    result = ImportResult()
    for lineno, raw in enumerate(reader, start=2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
        name = row.get("name", "")
        if not name:
            raise UserError(f"line {lineno}: 'name' is empty")
        role = None
        if row.get("role"):
            try:
                role = Role.parse(row["role"])
            except ValueError as e:
                raise UserError(f"line {lineno}: {e}") from None
        person = None
        email = row.get("email") or None
        if email:
            person = await session.scalar(select(Person).where(func.lower(Person.email) == email.lower()))
        links: list[tuple[str, str, str]] = []
        if row.get("slack_id"):
            links.append(("slack", slack_workspace or "*", row["slack_id"]))
        if row.get("teams_id"):
            links.append(("teams", teams_tenant or "*", row["teams_id"]))
        for platform, _ws, uid in links:
            if person is None:
                link = await session.scalar(
                    select(PlatformIdentity).where(
                        PlatformIdentity.platform == platform, PlatformIdentity.user_id == uid
                    )
                )
                if link:
                    person = await session.get(Person, link.person_id)
        if person is None:
            person = Person(display_name=name, email=email)
            session.add(person)
            result.created += 1
        else:
            result.updated += 1
            person.display_name = name
            if email:
                person.email = email
        person.team = row.get("team") or person.team
        person.timezone = row.get("timezone") or person.timezone
        person.locale = row.get("locale") or person.locale
        await session.flush()
        for platform, ws, uid in links:
            exists = await session.scalar(
                select(PlatformIdentity).where(PlatformIdentity.platform == platform, PlatformIdentity.user_id == uid)
            )
            if exists is None:
                session.add(PlatformIdentity(person_id=person.id, platform=platform, workspace=ws, user_id=uid))
        if role is not None:
            await set_role(session, rollout, person, role)
            result.roles += 1
    await session.flush()
    return result


async def people_with_role(
    session: AsyncSession, rollout: Rollout, role: Role, team: str | None = None
) -> list[Person]:
    stmt = (
        select(Person)
        .join(Membership, Membership.person_id == Person.id)
        .where(Membership.rollout_id == rollout.id, Membership.role == role.label)
    )
    if team is not None:
        stmt = stmt.where(Person.team == team)
    return list(await session.scalars(stmt.order_by(Person.id)))
