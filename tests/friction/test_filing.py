"""Filing: the form, one-step `report <text>`, the message shortcut, bad input and idempotency."""

from __future__ import annotations

from sqlalchemy import select

from bot.model import Request, Shortcut
from handlers.friction.tables import FrictionReport
from tests.chat import Chat
from tests.friction.conftest import FORM_VALUES, Cast, count_reports, file_by_form, load, number_in


async def test_report_opens_a_form_with_workflow_steps_and_prefilled_team(chat: Chat, cast: Cast) -> None:
    reply = await cast.eve.says("report")
    form = reply.form
    assert form is not None and form.form_id == "friction.file"
    fields = {f.name: f for f in form.fields}
    steps = [o.label for o in fields["step"].options]
    assert steps[0] == "Read the incoming claim" and steps[-1] == "other"
    assert fields["team"].initial == "Claims Intake"
    assert fields["share"].initial is True
    assert fields["what"].max_length == 3000 and fields["what"].kind == "long_text"
    assert "too slow" in [o.label for o in fields["category"].options]


async def test_form_confirmation_tells_number_who_and_when(chat: Chat, cast: Cast) -> None:
    number = await file_by_form(cast.eve)  # Monday 23 Nov 2026, 09:00 UTC
    text = cast.eve.last_reply.text
    assert "Ana" in text and "change team" in text
    assert "Wed 25 Nov" in text  # two business days
    report = await load(chat.rt, number)
    assert (report.status, report.category, report.reporter_id, report.anonymous) == (
        "new",
        "trust",
        cast.eve.person_id,
        False,
    )
    assert report.workflow_step == "Route the claim"


async def test_new_report_is_posted_to_every_triage_channel_with_buttons(chat: Chat, cast: Cast) -> None:
    number = await file_by_form(cast.eve)
    rows = await chat.outbox(kind="friction_triage")
    assert {(r.platform, r.workspace, r.channel_id) for r in rows} == {
        ("slack", "T1", "CTRIAGE"),
        ("console", "local", "triage"),
    }
    payload = str(rows[0].payload)
    for label in ("Take it", "Assign…", "Set status…", "Mark duplicate…", "Reply to reporter"):
        assert label in payload
    assert f"{number}:1" in payload  # buttons carry the version the triager sees


async def test_triage_channel_without_a_known_workspace_is_skipped(chat: Chat, cast: Cast) -> None:
    from tests.friction.conftest import set_channels

    await set_channels(chat.rt, {"teams": {"triage": ["19:abc"]}}, workspaces={})
    await file_by_form(cast.eve)
    assert await chat.outbox(kind="friction_triage") == []


async def test_one_step_report_suggests_a_category_and_files_on_confirm(chat: Chat, cast: Cast) -> None:
    reply = await cast.eve.says("report the claims screen takes 40 seconds to load")
    assert "too slow" in reply.text and reply.has_button("File it")
    assert await count_reports(chat.rt) == 0
    filed = await cast.eve.clicks("File it")
    report = await load(chat.rt, number_in(filed))
    assert report.category == "slow" and report.text == "the claims screen takes 40 seconds to load"


async def test_one_step_category_can_be_adjusted(chat: Chat, cast: Cast) -> None:
    reply = await cast.eve.says("report I'm not sure whether I may paste customer data into it")
    assert reply.message is not None
    select_block = next(b.select for b in reply.message.blocks if getattr(b, "select", None))
    assert select_block is not None
    changed = await cast.eve.acts(select_block.action_id, "access")
    assert "access or data" in changed.text and changed.replace
    report = await load(chat.rt, number_in(await cast.eve.clicks("File it")))
    assert report.category == "access" and report.category_confirmed


async def test_one_step_draft_can_open_the_full_form(chat: Chat, cast: Cast) -> None:
    await cast.eve.says("report login fails every morning")
    reply = await cast.eve.clicks("Open the full form")
    assert reply.form is not None
    assert {f.name: f.initial for f in reply.form.fields}["what"] == "login fails every morning"
    report = await load(
        chat.rt, number_in(await cast.eve.submits({**FORM_VALUES, "what": "login fails every morning"}))
    )
    assert report.text == "login fails every morning"


async def test_message_shortcut_prefills_and_keeps_the_link(chat: Chat, cast: Cast) -> None:
    request = Request(
        identity=cast.eve.identity,
        intent=Shortcut("friction.report_message"),
        source_text="Assistant took a minute to answer again, the queue is piling up",
        source_link="https://example.slack.com/archives/C1/p123",
        event_id="shortcut-1",
    )
    reply = await cast.eve.send(request)
    assert reply.form is not None
    initial = {f.name: f.initial for f in reply.form.fields}
    assert initial["what"].startswith("Assistant took a minute") and initial["category"] == "slow"
    values = {**FORM_VALUES, "what": initial["what"], "category": initial["category"]}
    report = await load(chat.rt, number_in(await cast.eve.submits(values)))
    assert report.source_link == "https://example.slack.com/archives/C1/p123"


async def test_empty_or_oversized_text_is_an_inline_form_error_and_nothing_is_saved(chat: Chat, cast: Cast) -> None:
    await cast.eve.says("report")
    empty = await cast.eve.submits({**FORM_VALUES, "what": "   "})
    assert empty.form is not None and "what" in empty.form.errors
    big = await cast.eve.submits({**FORM_VALUES, "what": "x" * 3001})
    assert big.form is not None and "3,000" in big.form.errors["what"]
    assert await count_reports(chat.rt) == 0
    one_step = await cast.eve.says("report " + "y" * 3100)
    assert "3,000" in one_step.text and await count_reports(chat.rt) == 0


async def test_double_submitted_form_and_retried_event_file_one_report(chat: Chat, cast: Cast) -> None:
    await cast.eve.says("report")
    first = await cast.eve.submits(FORM_VALUES, event_id="sub-1")
    retried = await cast.eve.submits(FORM_VALUES, event_id="sub-1")  # platform retry: same event id
    double = await cast.eve.submits(FORM_VALUES, event_id="sub-2")  # double click: a new event id, same form
    assert "your report is *#" in first.text and retried.message is None
    assert "already filed as *#" in double.text
    assert await count_reports(chat.rt) == 1
    assert len(await chat.outbox(kind="friction_triage")) == 2  # one per channel, not per submission


async def test_double_clicked_file_it_files_once(chat: Chat, cast: Cast) -> None:
    draft = await cast.eve.says("report the export button does nothing")
    await cast.eve.clicks("File it", on=draft)
    again = await cast.eve.clicks("File it", on=draft)
    assert "already filed" in again.text
    assert await count_reports(chat.rt) == 1


async def test_text_is_stored_as_written_and_marked_as_person_text(chat: Chat, cast: Cast) -> None:
    nasty = "<!channel> hi <@U123> <https://evil.example|Open> & more"
    number = await file_by_form(cast.eve, what=nasty)
    async with chat.rt.db.session() as s:
        report = await s.scalar(select(FrictionReport).where(FrictionReport.id == number))
    assert report is not None and report.text == nasty
    rows = await chat.outbox(kind="friction_triage")
    section = rows[0].payload["blocks"][0]
    assert section["user_text"] == nasty  # the renderer escapes user_text for each platform
