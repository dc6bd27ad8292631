"""Weekly update and monthly review: drafted by jobs from digest sections, approved, skipped, edited; wins/tips."""

from __future__ import annotations

import datetime as dt

from bot.clock import FrozenClock
from bot.digest import DigestSection, Period
from bot.model import LIT_OPEN, Role
from bot.runtime import Runtime
from bot.scheduler import run_due
from handlers.broadcasts.updates import first_business_day
from tests.broadcasts.senders import RecordingSender, deliver_all
from tests.chat import Chat

MONDAY_9 = dt.datetime(2026, 11, 30, 7, 0, 10, tzinfo=dt.UTC)  # 09:00 in Helsinki


async def _channels(rt: Runtime, auto: bool = False) -> None:
    async with rt.db.session() as s:
        rollout = await rt.default_rollout(s)
        rollout.channels = {"slack": {"announce": ["CANN"]}, "teams": {"announce": []}}
        rollout.config = {**rollout.config, "auto_send_updates": auto}
        await s.commit()


async def test_weekly_update_is_drafted_on_monday_and_approved_to_the_announcement_channel(
    chat: Chat, runtime: Runtime, slack: RecordingSender, clock: FrozenClock
) -> None:
    await _channels(runtime)
    ana = await chat.person("Ana", role=Role.change_lead, platform="slack")
    elif_ = await chat.person("Elif", role=Role.champion, platform="slack")
    clock.set(MONDAY_9 - dt.timedelta(days=2))
    await elif_.says("win <!channel> the assistant cut triage of a water-damage claim to *2 minutes*")
    assert "Thanks for sharing your win" in elif_.last_reply.text
    clock.set(MONDAY_9)
    result = await run_due(runtime)
    assert "broadcasts.weekly_update@default 2026-11-30T09:00" in result["done"]
    await deliver_all(runtime, clock)
    # Other capabilities' Monday jobs (e.g. the FAQ review reminder) may DM Ana too: find the draft.
    drafts = [s for s in slack.to(ana.identity.user_id) if "Draft for your approval: Weekly update" in s.text]
    assert len(drafts) == 1
    review = drafts[0]
    body = review.message.blocks[1].text  # type: ignore[union-attr]
    assert f"{LIT_OPEN}<!channel> the assistant cut" in body  # person text stays marked for escaping
    assert "One learning example" in body and "A win from" in review.text
    send = review.message.blocks[-1].buttons[0]  # type: ignore[union-attr]
    await ana.acts(send.action_id, send.value)
    assert "goes to 1 announcement channel" in ana.last_reply.text
    await ana.acts(send.action_id, send.value)
    assert "already sent" in ana.last_reply.text
    await deliver_all(runtime, clock)
    posted = [s for s in slack.sent if s.target == "channel:W1:CANN"]  # the approver's workspace
    assert len(posted) == 1 and "Weekly update" in posted[0].text
    assert (await run_due(runtime))["done"] == []  # the same Monday is not drafted twice
    eve = await chat.person("Eve")
    await eve.command("updates")
    await eve.clicks("Read")
    assert "One learning example" in eve.last_reply.text


async def test_skip_and_edit_a_draft(chat: Chat, runtime: Runtime, slack: RecordingSender, clock: FrozenClock) -> None:
    await _channels(runtime)
    ana = await chat.person("Ana", role=Role.change_lead, platform="slack")
    await ana.command("updates", "draft weekly")
    assert ana.last_reply.has_button("Approve & send") and ana.last_reply.has_button("Skip this time")
    await ana.clicks("Edit")
    await ana.submits({"body": ""})
    assert "can't be empty" in ana.last_reply.text
    await ana.submits({"body": "Short one this week: <b>all good</b>."})
    assert "Short one this week" in ana.last_reply.text
    await ana.clicks("Skip this time")
    assert "Skipped" in ana.last_reply.text
    await deliver_all(runtime, clock)
    assert [s for s in slack.sent if s.target.startswith("channel")] == []
    await ana.command("updates")
    assert "skipped" in ana.last_reply.text
    eve = await chat.person("Eve")
    await eve.command("updates")
    assert "No updates yet" in eve.last_reply.text  # employees only see published ones


async def test_auto_send_posts_without_approval(
    chat: Chat, runtime: Runtime, slack: RecordingSender, clock: FrozenClock
) -> None:
    await _channels(runtime, auto=True)
    ana = await chat.person("Ana", role=Role.change_lead, platform="slack")
    clock.set(MONDAY_9)
    await run_due(runtime)
    await deliver_all(runtime, clock)
    assert len([s for s in slack.sent if s.target == "channel::CANN"]) == 1
    assert not [s for s in slack.to(ana.identity.user_id) if "Draft for your approval" in s.text]


async def test_capability_digest_sections_appear_without_the_update_knowing_them(
    chat: Chat, runtime: Runtime, slack: RecordingSender, clock: FrozenClock
) -> None:
    async def friction_like(session: object, rollout: object, period: Period, rt: Runtime) -> DigestSection:
        return DigestSection("Friction", kind="top_friction", lines=["Slow claim screen — caching ships Friday"])

    async def broken(session: object, rollout: object, period: Period, rt: Runtime) -> DigestSection:
        raise RuntimeError("a broken provider is left out")

    from bot.registry import Capability

    cap = Capability("digest_test", runtime.registry)
    try:
        cap.digest(order=10)(friction_like)
        cap.digest(order=11)(broken)
        ana = await chat.person("Ana", role=Role.change_lead)
        await ana.command("updates", "draft weekly")
        assert "Slow claim screen — caching ships Friday" in ana.last_reply.text
        assert "Top open frictions" in ana.last_reply.text
    finally:
        runtime.registry.digests = [d for d in runtime.registry.digests if d.capability != "digest_test"]
        runtime.registry.capabilities.pop("digest_test", None)


async def test_monthly_review_on_the_first_business_day_only(
    chat: Chat, runtime: Runtime, slack: RecordingSender, clock: FrozenClock
) -> None:
    await _channels(runtime)
    ana = await chat.person("Ana", role=Role.change_lead, platform="slack")
    assert first_business_day(dt.date(2026, 8, 3)) and not first_business_day(dt.date(2026, 8, 4))
    assert not first_business_day(dt.date(2026, 8, 1))  # a Saturday
    for day in (1, 2, 3):  # Tue 1 Dec 2026 is the first business day; the job also fires on the 2nd and 3rd
        clock.set(dt.datetime(2026, 12, day, 7, 0, 10, tzinfo=dt.UTC))
        await run_due(runtime)
    await deliver_all(runtime, clock)
    reviews = [s for s in slack.to(ana.identity.user_id) if "Monthly review" in s.text]
    assert len(reviews) == 1 and "November 2026" in reviews[0].text and "Adoption and value" in reviews[0].text


async def test_tip_without_text_opens_a_short_form(chat: Chat, runtime: Runtime) -> None:
    eve = await chat.person("Eve")
    await eve.command("tip")
    assert eve.last_form.form_id == "broadcasts.share"
    await eve.submits({"kind": "tip", "text": ""})
    assert "Write a sentence" in eve.last_reply.text
    await eve.submits({"kind": "tip", "text": "Paste the claim number first"})
    assert "Thanks for sharing your tip" in eve.last_reply.text
