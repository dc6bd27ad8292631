"""With credentials, only activities carrying a valid Bot Framework JWT are processed (R4, R5); in emulator mode
only loopback service URLs are accepted. Rejections are 401 and leave no trace: no reply, no stored event."""

from __future__ import annotations

import asyncio

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import func, select

from bot.adapters.teams_store import TeamsConversation
from bot.tables import ProcessedEvent
from tests.support.teams_fixtures import APP_ID
from tests.support.teams_harness import TeamsHarness


async def _nothing_processed(teams: TeamsHarness) -> None:
    assert teams.connector.activities == []
    rt = teams.runtime
    async with rt.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(ProcessedEvent)) == 0
        assert await session.scalar(select(func.count()).select_from(TeamsConversation)) == 0


async def test_a_signed_activity_is_processed_and_replies_carry_an_app_token(teams_secure: TeamsHarness) -> None:
    assert (await teams_secure.says("help")).status == 200
    reply = teams_secure.last_reply()
    assert "What I can do" in reply.text
    assert reply.authorization == "Bearer app-token-1"
    [grant] = teams_secure.connector.token_requests
    assert grant["grant_type"] == "client_credentials" and grant["scope"] == "https://api.botframework.com/.default"


def _bad_tokens(teams: TeamsHarness, activity: dict) -> dict[str, str | None]:
    openid, url = teams.openid, activity["serviceUrl"]
    assert openid is not None
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return {
        "missing": None,
        "wrong issuer": openid.sign(audience=APP_ID, service_url=url, issuer="https://evil.example"),
        "wrong audience": openid.sign(audience="someone-else", service_url=url),
        "expired 6 min ago": openid.sign(audience=APP_ID, service_url=url, expires_in=-360),
        "unknown key": openid.sign(audience=APP_ID, service_url=url, kid="rotated-away", key=other_key),
        "right kid, wrong key": openid.sign(audience=APP_ID, service_url=url, key=other_key),
        "serviceurl mismatch": openid.sign(audience=APP_ID, service_url="https://smba.evil.example/"),
        "not a jwt": "abc.def",
        "unsigned": jwt.encode({"iss": "https://api.botframework.com", "aud": APP_ID}, "", algorithm="none"),
    }


async def test_bad_tokens_are_refused_with_401_and_nothing_is_processed(teams_secure: TeamsHarness) -> None:
    activity = teams_secure.activity("message", text="help")
    for label, token in _bad_tokens(teams_secure, activity).items():
        answer = await teams_secure.send(dict(activity, id=f"{activity['id']}-{len(label)}"), token=token)
        assert answer.status == 401, label
    await _nothing_processed(teams_secure)


async def test_expiry_has_five_minutes_of_clock_skew(teams_secure: TeamsHarness) -> None:
    activity = teams_secure.activity("message", text="help")
    assert teams_secure.openid is not None
    token = teams_secure.openid.sign(audience=APP_ID, service_url=activity["serviceUrl"], expires_in=-240)
    assert (await teams_secure.send(activity, token=token)).status == 200


async def test_a_key_without_the_msteams_endorsement_is_refused(teams_secure: TeamsHarness) -> None:
    assert teams_secure.openid is not None
    teams_secure.openid.endorsements = ["webchat"]
    assert (await teams_secure.says("help")).status == 401
    await _nothing_processed(teams_secure)


async def test_unknown_keys_do_not_make_us_fetch_keys_per_request(teams_secure: TeamsHarness) -> None:
    assert (await teams_secure.says("help")).status == 200
    openid = teams_secure.openid
    assert openid is not None
    before = openid.metadata_requests
    activity = teams_secure.activity("message", text="help")
    for i in range(20):
        token = openid.sign(audience=APP_ID, service_url=activity["serviceUrl"], kid=f"random-{i}")
        assert (await teams_secure.send(dict(activity, id=f"x{i}"), token=token)).status == 401
    assert openid.metadata_requests - before <= 1  # at most one refresh an hour on an unknown kid (R5)


async def test_signing_keys_are_fetched_once_for_a_burst_of_first_requests(teams_secure: TeamsHarness) -> None:
    assert teams_secure.openid is not None
    answers = await asyncio.gather(*(teams_secure.says("help", user=f"aad-{i}") for i in range(10)))
    assert {a.status for a in answers} == {200}
    assert teams_secure.openid.metadata_requests == 1  # fetched in a thread, once, not per request on the loop


async def test_one_app_token_serves_many_concurrent_replies(teams_secure: TeamsHarness) -> None:
    answers = await asyncio.gather(*(teams_secure.says("help", user=f"aad-{i}") for i in range(25)))
    assert {a.status for a in answers} == {200}
    assert len(teams_secure.connector.activities) == 25
    assert len(teams_secure.connector.token_requests) == 1


async def test_emulator_mode_refuses_service_urls_off_this_machine(teams: TeamsHarness) -> None:
    activity = teams.activity("message", text="help", serviceUrl="https://smba.trafficmanager.net/amer/")
    assert (await teams.send(activity)).status == 401
    await _nothing_processed(teams)


@pytest.mark.parametrize(
    ("host", "app_id", "expected"),
    [
        ("127.0.0.1", None, "LOCAL EMULATOR MODE"),
        ("0.0.0.0", None, "Teams: off"),
        ("0.0.0.0", "app", "Teams: on"),
    ],
)
def test_mode_depends_on_credentials_and_bind_address(host: str, app_id: str | None, expected: str) -> None:
    from bot.adapters.teams import _mode
    from bot.config import Settings

    settings = Settings(
        host=host, microsoft_app_id=app_id, microsoft_app_password="pw" if app_id else None, microsoft_app_tenant_id="t"
    )
    assert expected in _mode(settings)[1]


def test_credentials_missing_a_password_keep_teams_off() -> None:
    from bot.adapters.teams import _mode
    from bot.config import Settings

    emulator, status = _mode(Settings(host="0.0.0.0", microsoft_app_id="app", microsoft_app_tenant_id="t"))
    assert emulator is None and "MicrosoftAppPassword" in status


def test_user_assigned_managed_identity_is_refused_with_what_to_do_instead() -> None:
    from bot.adapters.teams import _mode
    from bot.config import Settings

    settings = Settings(host="0.0.0.0", microsoft_app_id="app", microsoft_app_type="UserAssignedMSI")
    emulator, status = _mode(settings)
    assert emulator is None and "UserAssignedMSI is not supported" in status and "SingleTenant" in status


async def test_a_signed_activity_from_another_tenant_is_refused(teams_secure: TeamsHarness) -> None:
    activity = teams_secure.activity("message", text="help")
    activity["channelData"]["tenant"]["id"] = "other-tenant"
    assert (await teams_secure.send(activity)).status == 403
    await _nothing_processed(teams_secure)
