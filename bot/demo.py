"""`uptake demo`: a believable pilot rollout with people, champions and a change lead; capabilities add
their own sample data through `@capability.demo`. Running it twice changes nothing."""

from __future__ import annotations

import random

from sqlalchemy import select

from bot.model import Role
from bot.people import set_role
from bot.runtime import Runtime
from bot.tables import AuditEntry, Person, PlatformIdentity, Rollout

TEAMS = ("Claims Intake", "Claims Assessment", "Fraud Review", "Customer Care")
FIRST = (
    "Ana",
    "Ben",
    "Chloe",
    "Dev",
    "Elif",
    "Farah",
    "Gus",
    "Hana",
    "Ivan",
    "Jonas",
    "Kaisa",
    "Liam",
    "Mei",
    "Nora",
    "Omar",
    "Pia",
    "Quinn",
    "Rosa",
    "Sami",
    "Tuuli",
    "Uma",
    "Viktor",
    "Wen",
    "Xavi",
    "Yusuf",
    "Zoe",
    "Aino",
    "Bruno",
    "Carla",
    "Dmitri",
    "Eeva",
    "Felix",
    "Greta",
    "Hugo",
    "Ines",
    "Joel",
    "Kofi",
    "Lea",
    "Mikko",
    "Noor",
)
LAST = (
    "Silva",
    "Okafor",
    "Martin",
    "Patel",
    "Yilmaz",
    "Haddad",
    "Berg",
    "Sato",
    "Petrov",
    "Weber",
    "Virtanen",
    "Murphy",
    "Chen",
    "Lind",
    "Farouk",
    "Nieminen",
    "Kelly",
    "Garcia",
    "Korhonen",
    "Laine",
    "Rao",
    "Novak",
    "Li",
    "Puig",
    "Demir",
    "Brown",
    "Heikkinen",
    "Costa",
    "Rossi",
    "Ivanov",
    "Koskinen",
    "Schulz",
    "Nilsson",
    "Moreau",
    "Santos",
    "Ek",
    "Mensah",
    "Dubois",
    "Salo",
    "Ahmed",
)


def demo_people() -> list[tuple[str, str, Role]]:
    """40 people across 4 teams: two champions per team, one change lead (Ana) and one admin (Ben)."""
    out: list[tuple[str, str, Role]] = []
    for i, (first, last) in enumerate(zip(FIRST, LAST, strict=True)):
        team = TEAMS[i % len(TEAMS)]
        role = Role.employee
        if i == 0:
            role = Role.change_lead
        elif i == 1:
            role = Role.admin
        elif 4 <= i < 12:
            role = Role.champion
        out.append((f"{first} {last}", team, role))
    return out


async def run_demo(rt: Runtime) -> dict[str, int]:
    """Fill the database with the demo rollout; idempotent (keys on console identities)."""
    created = 0
    async with rt.db.session() as session:
        rollout = await rt.default_rollout(session)
        people: list[Person] = []
        for name, team, role in demo_people():
            user_id = name.split()[0].lower()
            link = await session.scalar(
                select(PlatformIdentity).where(
                    PlatformIdentity.platform == "console",
                    PlatformIdentity.workspace == "local",
                    PlatformIdentity.user_id == user_id,
                )
            )
            if link is None:
                person = Person(display_name=name, team=team, email=f"{user_id}@example.com", timezone=rollout.timezone)
                session.add(person)
                await session.flush()
                session.add(
                    PlatformIdentity(person_id=person.id, platform="console", workspace="local", user_id=user_id)
                )
                await set_role(session, rollout, person, role)
                created += 1
            else:
                person = await session.get_one(Person, link.person_id)
            people.append(person)
        await session.flush()
        rng = random.Random(42)
        for spec in rt.registry.demos:
            await spec.fn(session=session, rollout=rollout, people=people, rt=rt, rng=rng)
        if created:
            session.add(AuditEntry(rollout_id=rollout.id, action="demo.seed", summary=f"{created} people"))
        await session.commit()
        return {"people_created": created, "people": len(people)}


def console_user_id(name: str) -> str:
    """How `uptake chat --as NAME` finds a demo person: their first name, lower-cased."""
    return name.strip().split()[0].lower() if name.strip() else "you"


__all__ = ["Rollout", "console_user_id", "demo_people", "run_demo"]
