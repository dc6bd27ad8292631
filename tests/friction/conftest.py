"""Friction scenario fixtures: a change lead, employees in two teams, triage channels on Slack and the console."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.adapters.console import ConsoleSender
from bot.model import Reply, Role
from bot.runtime import Runtime
from handlers.friction.tables import FrictionReport
from tests.chat import Chat, Speaker


@dataclass
class Cast:
    ana: Speaker  # change lead
    eve: Speaker  # employee, Claims Intake
    finn: Speaker  # employee, Claims Intake
    gus: Speaker  # employee, Fraud Review
    cleo: Speaker  # champion, Claims Intake


async def set_channels(rt: Runtime, channels: dict, **config: object) -> None:
    async with rt.db.session() as session:
        rollout = await rt.default_rollout(session)
        rollout.channels = channels
        rollout.config = {**rollout.config, **config}
        await session.commit()


@pytest.fixture
async def cast(chat: Chat, tmp_path: Path) -> Cast:
    # Each test gets its own console inbox, so a delivered message can only come from this test.
    chat.rt.senders["console"] = ConsoleSender(tmp_path)
    await set_channels(
        chat.rt,
        {"slack": {"triage": ["CTRIAGE"]}, "console": {"triage": ["triage"]}},
        workspaces={"slack": "T1"},
    )
    return Cast(
        ana=await chat.person("Ana", team="Change", role=Role.change_lead),
        eve=await chat.person("Eve", team="Claims Intake"),
        finn=await chat.person("Finn", team="Claims Intake"),
        gus=await chat.person("Gus", team="Fraud Review"),
        cleo=await chat.person("Cleo", team="Claims Intake", role=Role.champion),
    )


FORM_VALUES = {
    "step": "Route the claim",
    "what": "The routing suggestion ignores the claim's priority flag",
    "category": "trust",
    "impact": "slows",
    "frequency": "sometimes",
    "team": "Claims Intake",
    "share": True,
}


async def file_by_form(who: Speaker, **overrides: object) -> int:
    """Open the form, submit it, and return the new report's number (from the confirmation)."""
    await who.says("report")
    reply = await who.submits({**FORM_VALUES, **overrides})
    return number_in(reply)


def number_in(reply: Reply) -> int:
    m = re.search(r"your report is \*?#(\d+)", reply.text)
    assert m, reply.text
    return int(m.group(1))


async def count_reports(rt: Runtime) -> int:
    async with rt.db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(FrictionReport)) or 0)


async def load(rt: Runtime, number: int) -> FrictionReport:
    async with rt.db.session() as session:
        return await session.get_one(FrictionReport, number)
