from __future__ import annotations

import pytest

from bot.clock import FrozenClock
from bot.runtime import Runtime
from tests.broadcasts.senders import RecordingSender


@pytest.fixture
def slack(runtime: Runtime, clock: FrozenClock) -> RecordingSender:
    sender = RecordingSender("slack", clock)
    runtime.senders["slack"] = sender
    return sender
