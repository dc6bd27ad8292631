"""Signature, timestamp, retries and double clicks; nothing of a refused request is processed or logged."""

from __future__ import annotations

import json
import logging
import time

import pytest
from sqlalchemy import func, select

from bot.tables import ProcessedEvent
from tests.slack.probe import make_probe
from tests.support.slack_fixtures import SlackDriver, sign


async def _processed(slack: SlackDriver) -> int:
    async with slack.rt.db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(ProcessedEvent)) or 0)


@pytest.mark.parametrize(
    "tamper",
    ["bad_signature", "appended_byte", "missing_headers", "stale", "future", "not_a_number"],
)
async def test_unverifiable_requests_get_401_and_nothing_is_processed(
    slack: SlackDriver, tamper: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    body = "token=x&team_id=T1&user_id=U1&command=%2Fuptake&text=secret-anonymous-answer&trigger_id=t1&channel_id=C1"
    now = int(time.time())
    ctype = "application/x-www-form-urlencoded"
    if tamper == "bad_signature":
        resp = await slack.post(body, ctype, signature="v0=" + "0" * 64)
    elif tamper == "appended_byte":
        resp = await slack.post(body + "x", ctype, signature=sign(body, now), timestamp=now)
    elif tamper == "missing_headers":
        async with slack.http.post(slack.url + "/slack/events", data=body, headers={"Content-Type": ctype}) as r:
            resp_status = r.status
        assert resp_status == 401
        resp = None
    elif tamper == "stale":
        resp = await slack.post(body, ctype, timestamp=now - 301)
    elif tamper == "future":
        resp = await slack.post(body, ctype, timestamp=now + 301)
    else:
        async with slack.http.post(
            slack.url + "/slack/events",
            data=body,
            headers={"Content-Type": ctype, "X-Slack-Request-Timestamp": "abc", "X-Slack-Signature": sign(body, 0)},
        ) as r:
            assert r.status == 401
        resp = None
    if resp is not None:
        assert resp.status == 401
    await slack.idle()
    assert slack.api.records == []
    assert await _processed(slack) == 0
    assert "secret-anonymous-answer" not in caplog.text


async def test_timestamp_inside_the_window_is_accepted(slack: SlackDriver) -> None:
    resp = await slack.command("help", timestamp=int(time.time()) - 290)  # 10 s of room for a loaded machine
    assert resp.status == 200
    await slack.api.wait("response_url")


async def test_event_retries_have_one_effect(slack: SlackDriver) -> None:
    ts = "1700000000.1"
    event = {"type": "message", "channel_type": "im", "channel": "D1", "user": "U1", "text": "help", "ts": ts}
    for retry in (None, 1, 2, 3):
        resp = await slack.event(event, event_id="Ev0RETRY", retry_num=retry)
        assert resp.status == 200
    await slack.idle()
    assert slack.api.count("chat.postMessage") == 1


async def test_replayed_slash_command_has_one_effect(slack: SlackDriver) -> None:
    await slack.command("help", trigger_id="trig.same")
    await slack.command("help", trigger_id="trig.same")
    await slack.idle()
    assert slack.api.count("response_url") == 1


async def test_double_click_has_one_effect_but_a_later_click_counts(slack_with) -> None:  # type: ignore[no-untyped-def]
    probe = make_probe()
    async with slack_with(reg=probe.reg) as slack:
        t0 = time.time()
        await slack.click("probe.ok", "go", action_ts=f"{t0:.6f}")
        await slack.click("probe.ok", "go", action_ts=f"{t0 + 0.3:.6f}")  # the double click
        await slack.click("probe.ok", "go", action_ts=f"{t0 + 0.3:.6f}")  # Slack replaying that payload
        await slack.idle()
        assert probe.clicks == ["go"]
        await slack.click("probe.ok", "go", action_ts=f"{t0 + 5:.6f}")  # a deliberate second click later
        await slack.click("probe.ok", "other", action_ts=f"{t0 + 5.1:.6f}")  # another button right after
        await slack.idle()
        assert sorted(probe.clicks) == ["go", "go", "other"]  # the last two run side by side, in any order


async def test_bolt_raw_body_log_line_is_redacted_even_at_info(
    slack: SlackDriver, caplog: pytest.LogCaptureFixture
) -> None:
    verifier = logging.getLogger("slack_bolt.RequestVerification")
    level = verifier.level
    verifier.setLevel(logging.INFO)  # an operator turning Slack logs up must still not see bodies
    try:
        caplog.set_level(logging.INFO)
        body = json.dumps({"type": "event_callback", "event": {"text": "anonymous answer 4711"}})
        resp = await slack.post(body, "application/json", signature="v0=" + "1" * 64)
        assert resp.status == 401
    finally:
        verifier.setLevel(level)
    assert "Invalid request signature" in caplog.text
    assert "4711" not in caplog.text and "[redacted]" in caplog.text


async def test_double_click_across_two_replicas_on_one_database_has_one_effect(db_url: str, clock) -> None:  # type: ignore[no-untyped-def]
    import asyncio
    import math

    from bot.adapters.slack_inbound import DOUBLE_CLICK_SECONDS as W
    from tests.support.slack_fixtures import slack_app
    from tests.support.slack_mock import SlackMock

    probe = make_probe()
    api = SlackMock()
    await api.start()
    try:
        async with (
            slack_app(db_url, clock=clock, reg=probe.reg, api=api) as one,
            slack_app(db_url, clock=clock, reg=probe.reg, api=api) as two,
        ):
            t0 = (math.floor(time.time() / W) + 1) * W + W / 2  # the middle of a window
            # The two payloads of one double click, each landing on another replica at the same moment.
            await asyncio.gather(
                one.click("probe.ok", "go", action_ts=f"{t0:.6f}"),
                two.click("probe.ok", "go", action_ts=f"{t0 + 0.3:.6f}"),
            )
            await one.idle()
            await two.idle()
            assert probe.clicks == ["go"]
            # Straddling a window boundary, less than a window apart: still one click.
            edge = (math.floor(t0 / W) + 4) * W
            await one.click("probe.ok", "go", action_ts=f"{edge - 0.2:.6f}")
            await one.idle()
            await two.click("probe.ok", "go", action_ts=f"{edge + 0.2:.6f}")
            await two.idle()
            assert probe.clicks == ["go", "go"]
            # A deliberate second click two windows later counts, on either replica.
            await two.click("probe.ok", "go", action_ts=f"{edge + 0.2 + 2 * W:.6f}")
            await two.idle()
            assert probe.clicks == ["go", "go", "go"]
    finally:
        await api.stop()
