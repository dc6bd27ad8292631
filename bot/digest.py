"""The weekly update and monthly review are assembled from sections that capabilities contribute.

A capability registers `@capability.digest()` on
`async def section(session: AsyncSession, rollout: Rollout, period: Period, rt: Runtime) -> DigestSection | None`;
the broadcasts capability renders the sections it gets, in `order`, without knowing who made them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from bot.model import Fact


@dataclass(frozen=True)
class Period:
    start: dt.datetime  # inclusive, UTC
    end: dt.datetime  # exclusive, UTC
    kind: str = "week"  # "week" | "month"


@dataclass
class DigestSection:
    """One section: Uptake's own text in `lines` (person text marked with lit()), figures in `facts`.

    `kind` says where it belongs: "progress", "what_changed", "learning", "top_friction", "next", "metrics".
    `metrics` carries machine-readable figures (for the monthly review and KPIs), never person data.
    """

    title: str
    kind: str = "progress"
    lines: list[str] = field(default_factory=list)
    facts: list[Fact] = field(default_factory=list)
    metrics: dict[str, float | int | None] = field(default_factory=dict)
