"""Friction end to end on Slack: the real server over HTTP, a mock Slack Web API, the outbox sent for real.

Every step is what Slack sends (signed slash commands, modal submissions, block actions, message shortcuts) and
every check reads what Uptake sent back to the mock (views.open, response_url, chat.postEphemeral/postMessage).
"""

from __future__ import annotations

import re

from sqlalchemy import func, select

from bot.delivery import drain
from bot.model import Identity, Role
from bot.people import resolve_person, set_role
from bot.tables import AuditEntry
from handlers.friction.tables import FrictionReport, FrictionVote
from tests.support.slack_fixtures import SlackDriver
from tests.support.slack_mock import SlackCall

TRIAGE = "CTRIAGE"
NASTY = "Routing <!channel> pings <@U123>, see <https://evil|x> & [x](https://evil) — it ignores priority"
FORM = {
    "step": "Route the claim",
    "what": "The routing suggestion ignores the claim's priority flag",
    "category": "trust",
    "impact": "slows",
    "frequency": "sometimes",
    "team": "Claims Intake",
    "share": True,
}


async def setup(slack: SlackDriver, *, lead: str = "U9") -> None:
    """Named people in the mock workspace, a triage channel, and a change lead."""
    slack.api.add_user("U1", name="Eve Reporter")
    slack.api.add_user("U2", name="Finn Colleague")
    slack.api.add_user(lead, name="Ana Lead")
    async with slack.rt.db.session() as session:
        rollout = await slack.rt.default_rollout(session)
        rollout.channels = {"slack": {"triage": [TRIAGE]}}
        person, _ = await resolve_person(session, Identity("slack", slack.team, lead, "Ana Lead"), slack.rt.clock.now())
        await set_role(session, rollout, person, Role.change_lead)
        await session.commit()


async def file_by_form(slack: SlackDriver, user: str = "U1", **values: object) -> SlackCall:
    """`/uptake report` → modal → submit; returns the ephemeral answer."""
    before = slack.api.count("views.open")
    await slack.command("report", user=user)
    view = await slack.api.wait("views.open", before + 1)
    sent = slack.api.count("chat.postEphemeral")
    resp = await slack.submit_view(view, {**FORM, **values}, user=user)
    assert resp.status == 200 and not resp.body, resp.body  # the modal closes; no inline errors
    return await slack.api.wait("chat.postEphemeral", sent + 1)


def number_in(text: str) -> int:
    m = re.search(r"your report is \*?#(\d+)", text)
    assert m, text
    return int(m.group(1))


def triage_posts(slack: SlackDriver) -> list[SlackCall]:
    return [c for c in slack.api.calls("chat.postMessage") if c.params.get("channel") == TRIAGE]


def dms_to(slack: SlackDriver, user: str) -> list[SlackCall]:
    return [c for c in slack.api.calls("chat.postMessage") if c.params.get("channel") in (user, "D" + user[1:])]


async def click_button(slack: SlackDriver, call: SlackCall, label: str, *, user: str, channel: str = "C1") -> None:
    button = call.button(label)
    await slack.click(button["action_id"], button.get("value", ""), user=user, channel=channel)


async def report_row(slack: SlackDriver, number: int) -> FrictionReport:
    async with slack.rt.db.session() as session:
        return await session.get_one(FrictionReport, number)


# ---------------------------------------------------------------- filing


async def test_form_files_a_report_and_posts_it_to_triage_with_buttons(slack: SlackDriver) -> None:
    await setup(slack)
    answer = await file_by_form(slack)
    number = number_in(answer.text)
    assert "Who looks at it" in answer.text and "First answer by" in answer.text
    view = slack.api.calls("views.open")[0].params["view"]
    assert view["title"]["text"] == "Report friction"
    assert {b.get("block_id") for b in view["blocks"]} >= {"step", "what", "category", "impact", "frequency", "share"}
    assert await drain(slack.rt) >= 1
    [post] = triage_posts(slack)
    assert f"#{number}" in post.text and "ignores the claim's priority flag" in post.text
    assert "Eve Reporter" in post.text  # named report: the change team sees who filed it
    for label in ("Take it", "Assign", "Set status", "Mark duplicate", "Reply to reporter"):
        post.button(label)


async def test_form_with_empty_text_shows_an_inline_error_and_saves_nothing(slack: SlackDriver) -> None:
    await setup(slack)
    await slack.command("report", user="U1")
    view = await slack.api.wait("views.open")
    resp = await slack.submit_view(view, {**FORM, "what": "   "}, user="U1")
    body = resp.json()
    assert body["response_action"] == "errors" and "what" in body["errors"]
    async with slack.rt.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(FrictionReport)) == 0


async def test_one_step_report_is_confirmed_with_the_file_it_button(slack: SlackDriver) -> None:
    await setup(slack)
    await slack.command("report the claims screen takes 40 seconds to load", user="U1")
    draft = await slack.api.wait("response_url")
    assert "too slow" in draft.text and "File it" in draft.text
    button = draft.button("File it")
    await slack.click(button["action_id"], button["value"], user="U1")
    await slack.click(button["action_id"], button["value"], user="U1", action_ts="1700000999.000001")  # double click
    await slack.idle()
    answers = [c.text for c in slack.api.calls("response_url")[1:]] + [
        c.text for c in slack.api.calls("chat.postEphemeral")
    ]
    number = number_in("\n".join(answers))
    async with slack.rt.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(FrictionReport)) == 1
    assert (await report_row(slack, number)).category == "slow"


async def test_message_shortcut_prefills_the_form_and_keeps_the_link(slack: SlackDriver) -> None:
    await setup(slack)
    await slack.shortcut(
        "friction.report_message", message_text="The assistant keeps timing out on big claims", user="U2"
    )
    view = await slack.api.wait("views.open")
    what = next(b for b in view.params["view"]["blocks"] if b.get("block_id") == "what")
    assert what["element"].get("initial_value") == "The assistant keeps timing out on big claims"
    answer = await file_by_form_from(slack, view, user="U2", what="The assistant keeps timing out on big claims")
    report = await report_row(slack, number_in(answer.text))
    assert report.source_link and "1700000123" in report.source_link.replace(".", "")


async def file_by_form_from(slack: SlackDriver, view: SlackCall, *, user: str, **values: object) -> SlackCall:
    sent = slack.api.count("chat.postEphemeral")
    resp = await slack.submit_view(view, {**FORM, **values}, user=user)
    assert resp.status == 200 and not resp.body, resp.body
    return await slack.api.wait("chat.postEphemeral", sent + 1)


# ---------------------------------------------------------------- duplicates and +1


async def test_similar_open_report_is_offered_and_plus_one_subscribes(slack: SlackDriver) -> None:
    await setup(slack)
    first = number_in((await file_by_form(slack, what="The claims screen takes 40 seconds to load")).text)
    suggestion = await file_by_form(slack, "U2", what="claims screen takes about 40 seconds to load for me too")
    assert "Same problem? +1 it instead" in suggestion.text
    button = suggestion.button(f"+1 #{first}")
    await slack.click(button["action_id"], button["value"], user="U2")
    await slack.idle()
    assert f"+1 on *#{first}*" in slack.api.calls("response_url")[-1].text
    async with slack.rt.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(FrictionReport)) == 1
        assert await session.scalar(select(func.count()).select_from(FrictionVote)) == 1


# ---------------------------------------------------------------- triage and notifications


async def test_lead_resolves_from_the_triage_post_and_reporter_and_plus_one_hear_it(slack: SlackDriver) -> None:
    await setup(slack)
    number = number_in((await file_by_form(slack, what="The claims screen takes 40 seconds to load")).text)
    suggestion = await file_by_form(slack, "U2", what="claims screen takes about 40 seconds to load for me too")
    await click_button(slack, suggestion, f"+1 #{number}", user="U2")
    await slack.idle()
    await drain(slack.rt)
    [post] = triage_posts(slack)
    await click_button(slack, post, "Set status", user="U9", channel=TRIAGE)
    form = await slack.api.wait("views.open", 3)
    assert f"Status of #{number}" in form.params["view"]["title"]["text"]
    values = {"status": "resolved", "note": "We added an index; it loads in 2 s"}
    resp = await slack.submit_view(form, values, user="U9")
    assert resp.status == 200 and not resp.body, resp.body
    await slack.idle()
    assert (await report_row(slack, number)).status == "resolved"
    await drain(slack.rt)
    for user in ("U1", "U2"):
        [update] = dms_to(slack, user)
        assert "You said" in update.text and "We added an index" in update.text
        assert update.button("Not yet") and update.params.get("metadata", {}).get("event_payload", {}).get("ref")
    not_yet = dms_to(slack, "U1")[0].button("Not yet")
    await slack.click(not_yet["action_id"], not_yet["value"], user="U1", channel="D1")
    await slack.idle()
    assert (await report_row(slack, number)).status == "in_progress"


async def test_employee_cannot_change_status_and_is_audited(slack: SlackDriver) -> None:
    await setup(slack)
    number = number_in((await file_by_form(slack)).text)
    await drain(slack.rt)
    [post] = triage_posts(slack)
    await click_button(slack, post, "Set status", user="U2", channel=TRIAGE)
    await slack.idle()
    assert slack.api.count("views.open") == 1  # only the reporter's form; no status form for the employee
    denial = slack.api.calls("response_url")[-1]
    assert "change the status" in denial.text or "not allowed" in denial.text.lower(), denial.text
    assert (await report_row(slack, number)).status == "new"
    async with slack.rt.db.session() as session:
        denied = list(await session.scalars(select(AuditEntry).where(AuditEntry.action == "denied")))
    assert denied and "status" in denied[-1].summary


# ---------------------------------------------------------------- escaping and anonymity


async def test_triage_post_escapes_report_text_and_hides_an_anonymous_reporter(slack: SlackDriver) -> None:
    await setup(slack)
    await file_by_form(slack, what=NASTY, share=False)
    await drain(slack.rt)
    [post] = triage_posts(slack)
    rendered = post.text
    assert "<!channel>" not in rendered and "&lt;!channel&gt;" in rendered
    assert "<@U123>" not in rendered and "&lt;@U123&gt;" in rendered
    assert "<https://evil|x>" not in rendered and "&lt;https://evil|x&gt;" in rendered
    assert "&amp;" in rendered
    assert "<https://evil" not in rendered  # the Markdown link stays text, never a Slack link
    assert "Eve Reporter" not in rendered and not re.search(r"\bU1\b", rendered)
    assert "anonymous" in rendered
    # The fallback text (notifications, screen readers) is escaped too.
    fallback = str(post.params.get("text") or "")
    assert "<!channel>" not in fallback and "<@U123>" not in fallback
