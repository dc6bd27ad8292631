"""The one rule for a rollout channel's workspace (friction triage, FAQ escalation and broadcasts share it)."""

from __future__ import annotations

import logging

import pytest

from bot.channels import channel_targets, channel_workspace
from bot.model import Identity
from bot.tables import Rollout


def rollout(workspaces: dict[str, str] | None = None) -> Rollout:
    return Rollout(
        slug="r",
        name="R",
        channels={"slack": {"triage": ["C1", "C2"]}, "teams": {"triage": ["19:abc@thread.tacv2"], "announce": []}},
        config={"workspaces": workspaces} if workspaces else {},
    )


def test_the_askers_own_workspace_wins_on_their_platform() -> None:
    r = rollout({"slack": "T_CONFIGURED"})
    asker = Identity("slack", "T_ASKER", "U1")
    assert channel_workspace(r, "slack", asker) == "T_ASKER"
    assert channel_workspace(r, "teams", asker) is None
    assert channel_workspace(r, "slack") == "T_CONFIGURED"


def test_targets_skip_channels_of_unknown_workspace_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    asker = Identity("slack", "T_ASKER", "U1")
    with caplog.at_level(logging.WARNING, logger="uptake.channels"):
        targets = list(channel_targets(rollout(), "triage", asker))
    assert targets == [("slack", "T_ASKER", "C1"), ("slack", "T_ASKER", "C2")]
    assert "set config.workspaces.teams" in caplog.text


def test_configured_workspaces_reach_every_platform() -> None:
    r = rollout({"teams": "tenant-1"})
    targets = list(channel_targets(r, "triage", Identity("slack", "T1", "U1")))
    assert ("teams", "tenant-1", "19:abc@thread.tacv2") in targets
    assert list(channel_targets(r, "announce")) == []
