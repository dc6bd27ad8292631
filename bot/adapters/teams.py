"""Microsoft Teams: `POST /api/messages` through botbuilder's CloudAdapter, the outbox sender, `uptake teams`.

Everything that imports botbuilder lives in `bot/adapters/teams*.py`, so moving to the Microsoft 365 Agents SDK
(botbuilder-python is out of support from 2026) touches only these modules; cards (`teams_cards.py`), stored
references (`teams_store.py`) and send budgets (`teams_throttle.py`) are SDK-free.

Modes: with `MicrosoftAppId` every activity must carry a valid Bot Framework JWT (401 otherwise, nothing is
processed). Without it, the endpoint runs in local emulator mode, accepting unauthenticated activities only while
the server is bound to a loopback address and only from loopback service URLs; bound elsewhere, Teams is off.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import logging
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import typer
from aiohttp import web
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication
from botbuilder.schema import Activity

from bot.adapters.teams_auth import (
    BOT_FRAMEWORK_SCOPE,
    CachedBotFrameworkAuthentication,
    ConnectorPool,
    use_off_loop_metadata,
)
from bot.adapters.teams_sender import TeamsSender
from bot.adapters.teams_turns import UptakeTeamsBot
from bot.adapters.teams_wire import read_activity
from bot.config import ROOT, Settings
from bot.runtime import Runtime

log = logging.getLogger("uptake.teams")

BOT_FRAMEWORK_ISSUER = "https://api.botframework.com"
EMULATOR_OPENID = "https://login.microsoftonline.com/botframework.com/v2.0/.well-known/openid-configuration"
MANIFEST_DIR = ROOT / "manifests" / "teams"
OFF_HINT = "set MicrosoftAppId, MicrosoftAppPassword and MicrosoftAppTenantId"


@functools.lru_cache(maxsize=256)
def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class BotConfig:
    """The configuration object botbuilder's ConfigurationBotFrameworkAuthentication reads (attribute names are
    botbuilder's). Every endpoint is set explicitly, which selects botbuilder's parameterized authentication: the
    public cloud's values by default, local OpenID/JWKS and token servers in tests (no monkeypatching)."""

    def __init__(self, settings: Settings, *, emulator: bool) -> None:
        app_type = settings.microsoft_app_type or "SingleTenant"
        self.APP_ID = None if emulator else settings.microsoft_app_id
        self.APP_PASSWORD = (
            None
            if emulator or settings.microsoft_app_password is None
            else settings.microsoft_app_password.get_secret_value()
        )
        self.APP_TYPE = "MultiTenant" if emulator else app_type
        self.APP_TENANTID = settings.microsoft_app_tenant_id
        tenant = settings.microsoft_app_tenant_id if app_type.lower() == "singletenant" else "botframework.com"
        login = settings.teams_login_url.rstrip("/")
        self.TO_CHANNEL_FROM_BOT_LOGIN_URL = f"{login}/{tenant or 'botframework.com'}"
        self.TO_CHANNEL_FROM_BOT_OAUTH_SCOPE = BOT_FRAMEWORK_SCOPE
        self.TO_BOT_FROM_CHANNEL_TOKEN_ISSUER = BOT_FRAMEWORK_ISSUER
        self.TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL = settings.teams_openid_metadata_url
        self.TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL = EMULATOR_OPENID
        self.OAUTH_URL = "https://api.botframework.com"
        self.VALIDATE_AUTHORITY = True

    @property
    def token_url(self) -> str:
        return f"{self.TO_CHANNEL_FROM_BOT_LOGIN_URL}/oauth2/v2.0/token"


class TeamsEndpoint:
    """The mounted endpoint: adapter, authentication, bot and sender sharing one connector pool."""

    def __init__(self, rt: Runtime, *, emulator: bool) -> None:
        self.rt = rt
        self.emulator = emulator
        config = BotConfig(rt.settings, emulator=emulator)
        single = (rt.settings.microsoft_app_type or "SingleTenant").lower() == "singletenant"
        # A single-tenant bot serves its own tenant only: a correctly signed activity from another is refused (R45).
        self.tenant = rt.settings.microsoft_app_tenant_id if single and not emulator else None
        self.pool = ConnectorPool(
            app_id=config.APP_ID, password=config.APP_PASSWORD, token_url=None if emulator else config.token_url
        )
        use_off_loop_metadata(
            config.TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL, config.TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL
        )
        self.auth = CachedBotFrameworkAuthentication(
            ConfigurationBotFrameworkAuthentication(config), self.pool, emulator=emulator
        )
        self.adapter = CloudAdapter(self.auth)
        self.adapter.on_turn_error = self._turn_error
        self.sender = TeamsSender(rt, self.pool)
        self.bot = UptakeTeamsBot(rt, self.sender)

    async def _turn_error(self, ctx: Any, error: Exception) -> None:
        log.error("teams turn failed: %s", type(error).__name__, exc_info=error)

    async def messages(self, request: web.Request) -> web.StreamResponse:
        if "application/json" not in request.headers.get("Content-Type", ""):
            return web.Response(status=415, text="expected application/json")
        try:
            body = await request.json()
            activity = read_activity(body) if isinstance(body, dict) else None
        except Exception:
            activity = None
        if activity is None or not activity.type or not activity.service_url or activity.conversation is None:
            return web.Response(status=400, text="expected a Bot Framework activity")
        if self.emulator and not is_loopback(urlparse(activity.service_url).hostname):
            log.warning("teams emulator mode: refused an activity whose serviceUrl is not on this machine")
            return web.Response(status=401)
        try:
            authenticated = await self.auth.authenticate_request(activity, request.headers.get("Authorization"))
        except Exception as e:
            # PermissionError, PyJWT errors, unknown signing key, unreachable metadata: all mean "not proven".
            log.info("teams: rejected an unauthenticated activity (%s)", type(e).__name__)
            return web.Response(status=401)
        if self.tenant and _activity_tenant(activity) not in (None, self.tenant):
            log.warning("teams: refused an activity from another tenant")
            return web.Response(status=403)
        invoke = await self.adapter.process_activity(authenticated, activity, self.bot.on_turn)
        if invoke is not None:
            if invoke.body is None:
                return web.Response(status=int(invoke.status))
            return web.json_response(invoke.body, status=int(invoke.status))
        return web.Response(status=200)


def _activity_tenant(activity: Activity) -> str | None:
    data = activity.channel_data if isinstance(activity.channel_data, dict) else {}
    return (data.get("tenant") or {}).get("id") or getattr(activity.conversation, "tenant_id", None)


def _mode(settings: Settings) -> tuple[bool | None, str]:
    """(emulator?, reason): None means Teams stays off."""
    if settings.microsoft_app_id:
        kind = (settings.microsoft_app_type or "SingleTenant").lower()
        if kind == "userassignedmsi":
            return None, (
                "Teams: off (MicrosoftAppType=UserAssignedMSI is not supported: Uptake fetches its app token with "
                "a client secret; register the bot as SingleTenant and set MicrosoftAppPassword and "
                "MicrosoftAppTenantId)"
            )
        if settings.microsoft_app_password is None:
            return None, "Teams: off (MicrosoftAppId is set but MicrosoftAppPassword is missing)"
        if kind == "singletenant" and not settings.microsoft_app_tenant_id:
            return None, "Teams: off (SingleTenant needs MicrosoftAppTenantId)"
        if kind not in ("singletenant", "multitenant"):
            return None, f"Teams: off (MicrosoftAppType {settings.microsoft_app_type} is not supported)"
        return False, f"Teams: on at /api/messages ({settings.microsoft_app_type} app {settings.microsoft_app_id})"
    if is_loopback(settings.host):
        return True, (
            "Teams: LOCAL EMULATOR MODE at /api/messages — no MicrosoftAppId, so activities are NOT authenticated; "
            f"accepted only because the server is bound to {settings.host}. Never expose this; {OFF_HINT}."
        )
    return None, f"Teams: off (bound to {settings.host} without credentials; {OFF_HINT})"


async def mount(app: web.Application, rt: Runtime) -> str:
    """Add POST /api/messages and register the Teams sender when Teams is configured (or emulator mode)."""
    emulator, status = _mode(rt.settings)
    if emulator is None:
        if rt.settings.microsoft_app_id:  # credentials that cannot work are a mistake to shout about
            log.warning("%s", status)
        return status
    endpoint = TeamsEndpoint(rt, emulator=emulator)
    app.router.add_post("/api/messages", endpoint.messages)
    rt.senders["teams"] = endpoint.sender
    rt.extras["teams"] = endpoint
    if emulator:
        log.warning("%s", status)
    return status


async def register_sender(rt: Runtime) -> str:
    """For `uptake worker`: the outbox can send to Teams without the HTTP endpoint."""
    emulator, status = _mode(rt.settings)
    if emulator is None:
        return status
    endpoint = TeamsEndpoint(rt, emulator=emulator)
    rt.senders["teams"] = endpoint.sender
    return "Teams: sender ready" + (" (emulator mode)" if emulator else "")


# ---------------------------------------------------------------- app package

cli = typer.Typer(help="Microsoft Teams app package.", no_args_is_help=True)


@cli.callback()
def _teams() -> None:
    """Microsoft Teams: the app package to upload (`uptake teams package --app-id ID --host HOST`)."""


def build_manifest(app_id: str, host: str) -> dict[str, Any]:
    """The committed manifest with the bot id, host and the registry's commands and message actions filled in."""
    import handlers  # noqa: F401  (registers the capabilities)
    from bot.registry import registry

    text = (MANIFEST_DIR / "manifest.json").read_text(encoding="utf-8")
    text = text.replace("${{MICROSOFT_APP_ID}}", app_id).replace("${{UPTAKE_HOST}}", host)
    manifest: dict[str, Any] = json.loads(text)
    commands = [{"title": "help", "description": "Show what Uptake can do"}]
    for spec in sorted(registry.commands.values(), key=lambda c: (c.role, c.word)):
        if spec.word != "help":
            commands.append({"title": spec.word[:32], "description": (spec.help or spec.usage)[:128]})
    bot = manifest["bots"][0]
    bot["commandLists"] = [
        {"scopes": ["personal"], "commands": commands[:10]},
        {"scopes": ["team", "groupChat"], "commands": commands[:10]},
    ]
    actions = [
        {
            "id": s.shortcut_id,
            "type": "action",
            "title": s.label[:32],
            "description": s.label[:128],
            "context": ["message"],
            "fetchTask": True,
        }
        for s in registry.shortcuts.values()
    ]
    manifest["composeExtensions"] = [{"botId": app_id, "commands": actions[:10]}] if actions else []
    return manifest


@cli.command("package")
def package(
    app_id: str = typer.Option(..., "--app-id", help="The bot's Microsoft App ID (MicrosoftAppId)"),
    host: str = typer.Option(..., "--host", help="Public host name of Uptake, e.g. uptake.example.com"),
    out: Path = typer.Option(Path("uptake-teams.zip"), "--out", help="Where to write the zip"),
) -> None:
    """Write the Teams app package (manifest.json + icons) ready to upload in Teams or the admin center."""
    host = host.removeprefix("https://").removeprefix("http://").rstrip("/")
    if not app_id.strip() or not host or "/" in host:
        typer.echo("uptake: --app-id and --host (a bare host name) are required", err=True)
        raise typer.Exit(2)
    manifest = build_manifest(app_id.strip(), host)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.json", json.dumps(manifest, indent=2))
        zf.write(MANIFEST_DIR / "color.png", "color.png")
        zf.write(MANIFEST_DIR / "outline.png", "outline.png")
    typer.echo(f"wrote {out} (upload it in Teams: Apps → Manage your apps → Upload an app)")
