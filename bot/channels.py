"""Which workspace a rollout channel lives in — one rule for every capability that posts to channels.

`content/rollout.yml` lists channel ids per platform and purpose (`triage`, `escalation`, `announce`, …) but no
workspace: a Slack channel id means something only inside its workspace (team id), a Teams channel inside its
tenant. The rule: the person who caused the post, when they are on that platform, is in the right workspace;
otherwise the rollout's `config.workspaces.<platform>` names it. With neither, the channel is skipped with a
warning (posting into a guessed workspace could reach the wrong organisation).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from bot.model import Identity
from bot.tables import Rollout

log = logging.getLogger("uptake.channels")

PLATFORMS = ("slack", "teams", "console")


def configured_workspace(rollout: Rollout, platform: str) -> str | None:
    """`config.workspaces.<platform>` of the rollout (a Slack team id / Teams tenant id), if set."""
    configured = ((rollout.config or {}).get("workspaces") or {}).get(platform)
    return str(configured) if configured else None


def channel_workspace(rollout: Rollout, platform: str, asker: Identity | None = None) -> str | None:
    """The workspace of the rollout's channels on `platform`: the asker's own when on it, else the configured one."""
    if asker is not None and asker.platform == platform:
        return asker.workspace
    return configured_workspace(rollout, platform)


def channel_targets(rollout: Rollout, purpose: str, asker: Identity | None = None) -> Iterator[tuple[str, str, str]]:
    """(platform, workspace, channel id) for every channel of `purpose`; channels of unknown workspace skipped."""
    for platform in PLATFORMS:
        channels = rollout.channel_ids(platform, purpose)
        if not channels:
            continue
        workspace = channel_workspace(rollout, platform, asker)
        if workspace is None:
            log.warning("%s channel on %s skipped: set config.workspaces.%s", purpose, platform, platform)
            continue
        for channel_id in channels:
            yield platform, workspace, channel_id
