"""Broadcast flows on Teams through the real HTTP endpoint and the mock Bot Connector: the reminder to those who
have not acknowledged, driven by the scheduler with the injected clock; opt-out in `settings` with mandatory
announcements that cannot be muted."""

from __future__ import annotations

from sqlalchemy import select

from bot.delivery import drain
from bot.scheduler import run_due
from bot.tables import OutboxMessage
from handlers.broadcasts.tables import Broadcast
from tests.broadcasts.senders import deliver_all
from tests.e2e.test_broadcasts_teams import LEAD, READERS, compose_and_preview, setup
from tests.support.teams_harness import TeamsHarness


def _got(teams: TeamsHarness, user: str, needle: str) -> list[str]:
    return [p.text for p in teams.replies(user=user) if needle in p.text]


async def _set_config(teams: TeamsHarness, **config: object) -> None:
    async with teams.runtime.db.session() as session:
        rollout = await teams.runtime.default_rollout(session)
        rollout.config = {**(rollout.config or {}), **config}
        await session.commit()


async def test_one_reminder_goes_to_those_who_have_not_acknowledged_after_the_delay(teams: TeamsHarness) -> None:
    await setup(teams)
    await _set_config(teams, ack_reminder_hours=24)
    clock = teams.runtime.clock
    preview = await compose_and_preview(teams)
    await teams.click("Send now", user=LEAD, on=preview)
    assert await drain(teams.runtime) == 3
    [dm] = teams.replies(user="aad-1")
    await teams.click("Got it", user="aad-1", on=dm)
    teams.connector.clear()

    clock.advance(hours=23)  # before the delay: the scheduler's follow-up sends no reminder
    await run_due(teams.runtime)
    await drain(teams.runtime)
    assert all(_got(teams, u, "Reminder:") == [] for u in (*READERS, LEAD))

    clock.advance(hours=1, minutes=10)  # past 24 h since the first delivery
    done = (await run_due(teams.runtime))["done"]
    assert any(d.startswith("broadcasts.follow_up@") for d in done)
    await drain(teams.runtime)
    assert _got(teams, "aad-1", "Reminder:") == []  # acknowledged: no reminder
    for user in ("aad-2", LEAD):
        [reminder] = _got(teams, user, "Reminder: Claims assistant: week 3")
        assert "What's changing" in reminder
    [reminder_card] = [p for p in teams.replies(user="aad-2") if "Reminder:" in p.text]
    assert any("Got it" in a["title"] for a in reminder_card.actions())
    await teams.click("Got it", user="aad-2", on=reminder_card)  # acknowledging from the reminder counts
    assert "noted that you've read" in teams.last_reply(user="aad-2").text

    clock.advance(hours=30)  # one reminder only, however often the job runs
    await run_due(teams.runtime)
    clock.advance(minutes=10)
    await run_due(teams.runtime)
    await drain(teams.runtime)
    assert len(_got(teams, "aad-2", "Reminder:")) == 1 and len(_got(teams, LEAD, "Reminder:")) == 1
    async with teams.runtime.db.session() as session:
        b = await session.scalar(select(Broadcast))
        assert b is not None and b.reminded_at is not None
        reminders = list(await session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "broadcast_reminder")))
    assert sorted(r.status for r in reminders) == ["sent", "sent"]
    await teams.says("broadcasts", user=LEAD)
    assert "2 (67%)" in teams.last_reply(user=LEAD).text  # aad-1 and aad-2 acknowledged, of 3 delivered


async def test_muting_everything_leaves_mandatory_announcements_which_cannot_be_muted(teams: TeamsHarness) -> None:
    await setup(teams)
    await teams.says("settings", user="aad-2")
    form = teams.last_form(user="aad-2")
    [receive] = [i for i in form.inputs() if i["id"] == "f.receive"]
    assert "mandatory" not in {c["value"] for c in receive["choices"]}  # not a kind one can untick
    assert "Mandatory announcements always arrive" in form.text
    await teams.submit_form({"receive": []}, user="aad-2", on=form)  # mute every kind
    await teams.says("settings mute mandatory", user="aad-2")
    assert "Usage" in teams.last_reply(user="aad-2").text
    await teams.says("settings show", user="aad-2")
    shown = teams.last_reply(user="aad-2").text
    assert "Broadcasts from the change team: muted" in shown and ": on" not in shown

    preview = await compose_and_preview(teams, ask_ack=False)
    await teams.click("Send now", user=LEAD, on=preview)
    teams.runtime.clock.advance(minutes=5)
    preview = await compose_and_preview(teams, title="Mandatory: new payout rule", mandatory=True, ask_ack=False)
    await teams.click("Send now", user=LEAD, on=preview)
    teams.connector.clear()
    await deliver_all(teams.runtime, teams.runtime.clock, step=0.1)  # 5 messages: past the burst, paced
    got = [p.text for p in teams.replies(user="aad-2")]
    assert len(got) == 1 and "new payout rule" in got[0] and "mandatory announcement" in got[0]
    assert len(teams.replies(user="aad-1")) == 2  # aad-1 changed nothing and gets both
