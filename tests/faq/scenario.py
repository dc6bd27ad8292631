"""FAQ conversation fixtures: a runtime on a copy of the content (so tests can add or break files), thresholds set
explicitly (tests never depend on the cross-validated defaults), and a cast of people."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.adapters.console import ConsoleSender
from bot.clock import FrozenClock
from bot.config import ROOT
from bot.db import Database
from bot.model import Message, Reply, Role
from bot.runtime import Runtime
from tests.chat import Chat, Speaker
from tests.conftest import make_settings

CLEAR = "Is the survey anonymous?"  # the survey-privacy entry's own question: clearly in scope
OUT_OF_SCOPE = "recipe for banana bread with walnuts"


@dataclass
class Cast:
    chat: Chat
    ana: Speaker  # change lead
    eve: Speaker  # employee, Claims Intake
    cleo: Speaker  # champion, Claims Intake
    gus: Speaker  # employee, Fraud Review (no champion there)

    @property
    def rt(self) -> Runtime:
        return self.chat.rt


@pytest.fixture
def content_dir(tmp_path: Path) -> Path:
    target = tmp_path / "content"
    shutil.copytree(ROOT / "content", target)
    return target


@pytest.fixture
async def faq_runtime(db_url: str, clock: FrozenClock, tmp_path: Path, content_dir: Path) -> AsyncIterator[Runtime]:
    settings = make_settings(
        db_url,
        data_dir=tmp_path / "data",
        content_dir=content_dir,
        faq_answer_threshold=0.6,
        faq_suggest_threshold=0.3,
    )
    rt = Runtime(settings, db=Database(db_url), clock=clock)
    rt.load_content()
    rt.senders["console"] = ConsoleSender(tmp_path / "inbox")
    yield rt
    await rt.close()


@pytest.fixture
async def cast(faq_runtime: Runtime) -> Cast:
    chat = Chat(faq_runtime)
    return Cast(
        chat=chat,
        ana=await chat.person("Ana", team="Change", role=Role.change_lead),
        eve=await chat.person("Eve", team="Claims Intake"),
        cleo=await chat.person("Cleo", team="Claims Intake", role=Role.champion),
        gus=await chat.person("Gus", team="Fraud Review"),
    )


def set_thresholds(rt: Runtime, answer: float, suggest: float) -> None:
    rt.settings.faq_answer_threshold = answer
    rt.settings.faq_suggest_threshold = suggest


def only_suggest(rt: Runtime) -> None:
    """Every match lands between the thresholds."""
    set_thresholds(rt, 0.99999, 0.00001)


def only_abstain(rt: Runtime) -> None:
    set_thresholds(rt, 0.99999, 0.99999)


async def set_channels(rt: Runtime, channels: dict[str, Any], **config: Any) -> None:
    async with rt.db.session() as session:
        rollout = await rt.default_rollout(session)
        rollout.channels = channels
        rollout.config = {**(rollout.config or {}), **config}
        await session.commit()


async def count(rt: Runtime, table: Any, *where: Any) -> int:
    async with rt.db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(table).where(*where)) or 0)


async def rows(rt: Runtime, table: Any, *where: Any) -> list[Any]:
    async with rt.db.session() as session:
        return list(await session.scalars(select(table).where(*where).order_by(table.id)))


def inbox(rt: Runtime, user_id: str) -> list[Message]:
    sender = rt.senders["console"]
    assert isinstance(sender, ConsoleSender)
    return sender.read_new(user_id, 0)[0]


def esc_id_in(reply: Reply) -> str:
    return reply.button("Answer").value
