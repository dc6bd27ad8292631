"""Uptake as a Slack app: Bolt's AsyncApp mounted in the one aiohttp server (or Socket Mode), translating Slack
traffic to neutral requests for the router and rendering its replies as Block Kit.

The 3-second rule: Bolt runs with `process_before_response=True`, so a listener's `ack()` is the HTTP answer
(no polling); each listener acks at once and hands the router work to a task that answers afterwards through
the response_url / chat.postMessage / views.*. The one exception is a modal submission, whose validation errors
must travel in the ack: it calls the router first (a fast, local call).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import typer
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization.async_authorize import AsyncInstallationStoreAuthorize
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.adapters import slack_inbound as inbound
from bot.adapters.slack_install import installation_store, state_store
from bot.adapters.slack_queue import AnswerQueue
from bot.adapters.slack_render import inline_errors, render_form, render_home
from bot.adapters.slack_reply import OPEN_FORM, FormStash, Responder
from bot.adapters.slack_send import ROTATE_BEFORE_MINUTES, SlackClients, SlackSender, classify
from bot.config import ROOT, Settings
from bot.model import Command, Reply, Request
from bot.router import handle, home_view
from bot.runtime import Runtime

log = logging.getLogger("uptake.slack")

SLACK = web.AppKey("slack", object)
OFF = "slack: off — set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET (or SLACK_CLIENT_ID/SECRET) to turn it on"
SCOPES = ["app_mentions:read", "chat:write", "commands", "im:history", "im:write", "users:read"]
MANIFEST = ROOT / "manifests" / "slack.yml"


class _Redact(logging.Filter):
    """Bolt logs the raw body of a request with a bad signature at INFO (platform-rules R39); bodies may carry
    anonymous answers, so anything that looks like a payload is cut from Slack library log records."""

    _BODY = re.compile(r"(body|payload|json_body|data)[:=].*", re.IGNORECASE | re.DOTALL)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self._BODY.search(message):
            record.msg, record.args = self._BODY.sub(r"\1: [redacted]", message), ()
        return True


def quiet_slack_logs() -> logging.Logger:
    """Slack libraries at WARNING with the redaction filter; returns the base logger Bolt copies to its parts."""
    base = logging.getLogger("slack_bolt")
    for name in ("slack_bolt", "slack_sdk", "slack_sdk.web.async_base_client", "slack_sdk.socket_mode"):
        logger = logging.getLogger(name)
        logger.setLevel(max(logger.getEffectiveLevel(), logging.WARNING))
        if not any(isinstance(f, _Redact) for f in logger.filters):
            logger.addFilter(_Redact())
    return base


def _mode(settings: Settings) -> str | None:
    if settings.slack_client_id and settings.slack_client_secret is not None:
        return "oauth"
    if settings.slack_bot_token is not None:
        return "single"
    return None


class SlackAdapter:
    """The Bolt app, its listeners, and the tasks that answer after the ack."""

    def __init__(self, rt: Runtime, clients: SlackClients, app: AsyncApp) -> None:
        self.rt = rt
        self.clients = clients
        self.app = app
        self.identities = inbound.IdentityCache(rt.settings.slack_team_field, rt.clock)
        self.clicks = inbound.ClickGate(rt.db, rt.clock)
        self.stash = FormStash()
        self.responder = Responder(clients, self.stash)
        # Work after the ack waits its turn here (not exhausting the database pool, giving way to acks in bursts).
        self.answers = AnswerQueue()
        self._clients: dict[tuple[str | None, str | None], AsyncWebClient] = {}
        # Bound once: a method bound per request would be one more tracked object per queued answer (slack_queue).
        self._command_job = self.answer_command
        self._message_job = self.answer_message
        self.register()

    # ------------------------------------------------------------ background work

    def spawn(self, job: Callable[..., Awaitable[None]], *args: Any) -> None:
        """Answer after the ack: `await job(*args)` in its turn (slack_queue: keep args small while queued)."""
        self.answers.put(job, *args)

    async def idle(self) -> None:
        """Wait until every answer queued so far was sent (tests, graceful shutdown)."""
        await self.answers.idle()

    def queued(self, client: AsyncWebClient) -> tuple[str | None, str | None]:
        """What a queued answer keeps of the client Bolt gave its listener: two strings (see `client_for`)."""
        return client.token, client.default_params.get("team_id")

    def client_for(self, token: str | None, team_id: str | None) -> AsyncWebClient:
        """A client like the one Bolt gave the listener (its app client's settings, the request's token and team;
        Bolt builds one per request), kept per token and team, so that a queued answer holds no client (and its
        retry handler list) but two strings: fewer objects for the collector during a burst (slack_queue)."""
        found = self._clients.get((token, team_id))
        if found is None:
            base = self.app.client
            found = AsyncWebClient(
                token=token,
                base_url=base.base_url,
                timeout=base.timeout,
                ssl=base.ssl,
                proxy=base.proxy,
                session=base.session,
                trust_env_in_session=base.trust_env_in_session,
                headers=base.headers,
                team_id=team_id,
                logger=base.logger,
                retry_handlers=base.retry_handlers.copy() if base.retry_handlers is not None else None,
            )
            if len(self._clients) > 1000:
                self._clients.clear()
            self._clients[(token, team_id)] = found
        return found

    async def answer(self, client: AsyncWebClient, turn: inbound.Turn, intent: Any, key: str, **extra: Any) -> None:
        identity = await self.identities.get(client, turn.team_id, turn.user_id)
        reply = await handle(self.rt, inbound.build_request(identity, turn, intent, key, **extra))
        await self.responder.deliver(client, turn, reply)

    # ------------------------------------------------------------ listeners

    def register(self) -> None:
        app = self.app
        app.command(self.rt.settings.slack_command)(self.on_command)
        app.event("message")(self.on_message)
        app.event("app_mention")(self.on_message)
        app.event("app_home_opened")(self.on_home)
        app.block_action(re.compile(".+"))(self.on_action)
        app.shortcut(re.compile(".+"))(self.on_shortcut)
        app.view_submission(re.compile(".*"))(self.on_submission)
        app.view_closed(re.compile(".*"))(self.on_ignored)
        if app.oauth_flow is not None:
            app.event("app_uninstalled")(self.on_uninstalled)
            app.event("tokens_revoked")(self.on_uninstalled)
        app.event(re.compile(".*"))(self.on_ignored)  # other events: 200, so Slack never counts them as failures

    async def on_ignored(self, ack: Any) -> None:
        await ack()

    async def on_command(self, ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        if "user_id" not in body:
            raise KeyError("user_id")  # a malformed payload fails its request (500), as it did when read here
        self.spawn(self._command_job, *self.queued(client), body)

    async def answer_command(self, token: str | None, team_id: str | None, body: dict[str, Any]) -> None:
        turn, command, key = inbound.command_turn(body)
        await self.answer(self.client_for(token, team_id), turn, command if command.word else Command("help"), key)

    async def on_message(
        self, ack: Any, body: dict[str, Any], event: dict[str, Any], client: AsyncWebClient, context: Any
    ) -> None:
        await ack()
        if event.get("bot_id") or event.get("subtype") not in (None, "file_share", "thread_broadcast"):
            return  # our own and other bots' messages, edits, joins…
        if event.get("type") == "message" and event.get("channel_type") != "im":
            return
        if not event.get("user"):
            return
        self.spawn(self._message_job, *self.queued(client), body, context.get("bot_user_id"))

    async def answer_message(
        self, token: str | None, team_id: str | None, body: dict[str, Any], bot_user_id: str | None
    ) -> None:
        turn, text, key = inbound.message_turn(body, body["event"], bot_user_id)
        await self.answer(self.client_for(token, team_id), turn, text, key)

    async def on_home(self, ack: Any, body: dict[str, Any], event: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        if event.get("tab", "home") != "home":
            return

        async def publish() -> None:
            identity = await self.identities.get(client, inbound.team_of(body), event["user"])
            blocks = await home_view(self.rt, identity)
            await client.views_publish(user_id=event["user"], view=render_home(blocks))

        self.spawn(publish)

    async def on_action(self, ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        turn, action, key, click = inbound.action_turn(body)
        action_ts = body["actions"][0].get("action_ts")

        async def run() -> None:
            if not await self.clicks.first(click, action_ts):
                log.info("slack: double click ignored")
                return
            if action.action_id == OPEN_FORM:
                form = self.stash.take(action.value)
                reply = Reply.open(form) if form else Reply.say("This form has expired. Please start again.")
                await self.responder.deliver(client, turn, reply)
                return
            await self.answer(client, turn, action, key)

        self.spawn(run)

    async def on_shortcut(self, ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        turn, shortcut, key = inbound.shortcut_turn(body)

        async def run() -> None:
            message = body.get("message") or {}
            link = None
            if turn.channel_id and turn.message_ts:
                try:
                    got = await client.chat_getPermalink(channel=turn.channel_id, message_ts=turn.message_ts)
                    link = got.get("permalink")
                except Exception as e:
                    log.warning("slack: chat.getPermalink failed: %s", type(e).__name__)
            text = inbound.slack_to_plain(message.get("text") or "") if message else None
            await self.answer(client, turn, shortcut, key, source_text=text, source_link=link)

        self.spawn(run)

    async def on_submission(self, ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        turn, submission, key = inbound.submission_turn(body)
        identity = await self.identities.get(client, turn.team_id, turn.user_id)
        reply = await handle(self.rt, Request(identity, submission, turn.place(), key))
        if reply.form is not None and reply.form.errors:
            await ack(response_action="errors", errors=inline_errors(reply.form))
            return
        if reply.form is not None:
            await ack(response_action="update", view=render_form(reply.form, turn.answer_in()))
        else:
            await ack()
        if reply.message is not None or reply.follow_ups:
            rest = Reply(message=reply.message, private=reply.private, follow_ups=reply.follow_ups)
            self.spawn(self.responder.deliver, client, turn, rest)

    async def on_uninstalled(self, ack: Any, body: dict[str, Any], event: dict[str, Any]) -> None:
        await ack()
        team = inbound.team_of(body)
        store = self.clients.installation_store
        if store is not None:
            enterprise = body.get("enterprise_id")
            tokens = event.get("tokens") or {}
            if event.get("type") == "app_uninstalled" or tokens.get("bot"):
                # Installation rows hold the bot token too (Bolt's authorize and the sender read them), and
                # Uptake asks for no user scopes, so without its bot token nothing of the workspace is worth keeping.
                await store.async_delete_all(enterprise_id=enterprise, team_id=team)
            else:
                for user in tokens.get("oauth") or []:
                    await store.async_delete_installation(enterprise_id=enterprise, team_id=team, user_id=user)
        self.clients.forget(team)
        log.info("slack: tokens removed for workspace %s (%s)", team, event.get("type"))

    # ------------------------------------------------------------ HTTP

    async def http(self, request: web.Request) -> web.Response:
        # Bolt answers a non-numeric timestamp with a 500 (int() raises inside the verifier): refuse it as Slack's
        # verifier would refuse any bad signature (platform-rules R2).
        stamp = request.headers.get("X-Slack-Request-Timestamp")
        if request.method == "POST" and stamp is not None and not stamp.isdigit():
            return web.json_response({"error": "invalid request"}, status=401)
        self.answers.arrived()  # answers give way while requests keep coming (slack_queue)
        bolt_response = await self.app.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(bolt_response)

    async def install(self, request: web.Request) -> web.Response:
        """GET /slack/install: the "Add to Slack" page (sets the OAuth state cookie)."""
        assert self.app.oauth_flow is not None
        return await to_aiohttp_response(await self.app.oauth_flow.handle_installation(await to_bolt_request(request)))

    async def oauth_redirect(self, request: web.Request) -> web.Response:
        """GET /slack/oauth_redirect: state check, oauth.v2.access, installation saved."""
        assert self.app.oauth_flow is not None
        return await to_aiohttp_response(await self.app.oauth_flow.handle_callback(await to_bolt_request(request)))


def build(rt: Runtime) -> tuple[SlackClients, AsyncApp | None, str]:
    """Clients and the Bolt app for the configured mode, or None and the status line saying why not."""
    s = rt.settings
    mode = _mode(s)
    if mode is None:
        return SlackClients(s), None, OFF
    socket = s.slack_app_token is not None
    if s.slack_signing_secret is None and not socket:
        return SlackClients(s), None, "slack: off — SLACK_SIGNING_SECRET is missing (requests can't be verified)"
    base_logger = quiet_slack_logs()
    secret = s.slack_signing_secret.get_secret_value() if s.slack_signing_secret else ""
    common: dict[str, Any] = {
        "signing_secret": secret,
        "process_before_response": True,
        "logger": base_logger,
        # Per-request middleware for features Uptake's listeners don't take (workflow function tokens; the AI
        # assistant's say/set_status/say_stream objects built for every DM): off, so an ack builds none of them.
        "attaching_function_token_enabled": False,
        "attaching_conversation_kwargs_enabled": False,
    }
    if mode == "oauth":
        store = installation_store(s.slack_client_id or "", rt.db.engine)
        clients = SlackClients(s, store)
        assert s.slack_client_secret is not None
        oauth = AsyncOAuthSettings(
            client_id=s.slack_client_id,
            client_secret=s.slack_client_secret.get_secret_value(),
            scopes=SCOPES,
            installation_store=store,
            state_store=state_store(rt.db.engine),
            install_path="/slack/install",
            redirect_uri_path="/slack/oauth_redirect",
            token_rotation_expiration_minutes=ROTATE_BEFORE_MINUTES,
        )
        # Bolt's own authorize would rotate tokens through a client of its own at slack.com, ignoring
        # SLACK_API_URL (an enterprise proxy, the tests' mock): give it the configured client.
        authorize = AsyncInstallationStoreAuthorize(
            logger=base_logger,
            installation_store=store,
            client_id=s.slack_client_id,
            client_secret=s.slack_client_secret.get_secret_value(),
            token_rotation_expiration_minutes=ROTATE_BEFORE_MINUTES,
            client=clients.client(None),
        )
        app = AsyncApp(client=clients.client(None), oauth_settings=oauth, authorize=authorize, **common)
        how = "OAuth (many workspaces: /slack/install)"
    else:
        clients = SlackClients(s)
        assert s.slack_bot_token is not None
        app = AsyncApp(client=clients.client(s.slack_bot_token.get_secret_value()), **common)
        how = "one workspace"
    transport = "Socket Mode" if socket else "HTTP at /slack/events"
    return clients, app, f"slack: on — {how}, {transport}, command {s.slack_command}"


async def mount(app: web.Application, rt: Runtime) -> str:
    clients, bolt, status = build(rt)
    if bolt is None:
        return status
    adapter = SlackAdapter(rt, clients, bolt)
    sender = SlackSender(clients)
    rt.senders["slack"] = sender
    rt.extras["slack"] = adapter
    app[SLACK] = adapter
    if rt.settings.slack_app_token is not None:
        connect_socket_mode(app, bolt, rt.settings.slack_app_token.get_secret_value())
    else:
        app.router.add_post("/slack/events", adapter.http)
    if bolt.oauth_flow is not None:
        # Installing is a browser round trip over HTTP in both modes; Socket Mode only replaces the event URL.
        app.router.add_get("/slack/install", adapter.install)
        app.router.add_get("/slack/oauth_redirect", adapter.oauth_redirect)

    async def finish(_: web.Application) -> None:
        await adapter.idle()

    app.on_shutdown.append(finish)
    return status


def connect_socket_mode(app: web.Application, bolt: AsyncApp, app_token: str) -> None:
    """Connect through slack_sdk's Socket Mode client when the server starts, without holding the start up.

    The client retries forever (every 10 s) whatever goes wrong, so the first URL is asked for here: a token
    Slack refuses is a configuration error that stops the start with Slack's code (like a bad database URL),
    while Slack being unreachable must not keep the health check, Teams and the outbox down: the client then
    keeps trying in the background.
    """
    from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler

    socket = AsyncSocketModeHandler(bolt, app_token, web_client=bolt.client)
    connecting: list[asyncio.Task[None]] = []

    async def connect(_: web.Application) -> None:
        try:
            socket.client.wss_uri = await socket.client.issue_new_wss_url()
        except SlackApiError as e:
            problem = classify(e, "apps.connections.open")
            if not problem.transient:
                log.error("slack: Slack refused SLACK_APP_TOKEN (%s): Socket Mode needs an app-level token", problem)
                raise typer.Exit(2) from None
            log.warning("slack: Socket Mode can't reach Slack yet (%s); connecting in the background", problem)
        except Exception as e:  # connection trouble, or a 5xx page that slack_sdk fails to read as JSON
            log.warning("slack: Socket Mode can't reach Slack yet (%s); connecting in the background", type(e).__name__)
        connecting.append(asyncio.create_task(socket.connect_async()))

    async def disconnect(_: web.Application) -> None:
        for task in connecting:
            task.cancel()
        await socket.close_async()

    app.on_startup.append(connect)
    app.on_shutdown.append(disconnect)


async def register_sender(rt: Runtime) -> str:
    """For `uptake worker`: only the outbound sender, no routes."""
    mode = _mode(rt.settings)
    if mode is None:
        return OFF
    quiet_slack_logs()
    store = installation_store(rt.settings.slack_client_id or "", rt.db.engine) if mode == "oauth" else None
    rt.senders["slack"] = SlackSender(SlackClients(rt.settings, store))
    return f"slack: sender on ({'OAuth, many workspaces' if store else 'one workspace'})"


# ---------------------------------------------------------------- command line

cli = typer.Typer(help="Slack app setup.", no_args_is_help=True)


@cli.callback()
def _group() -> None:
    """Slack app setup (a group, so `uptake slack manifest` keeps its name)."""


def manifest_text(url: str, command: str = "/uptake", path: Path = MANIFEST) -> str:
    """manifests/slack.yml with the public URL (and the slash command) filled in."""
    base = url.rstrip("/")
    if not re.match(r"^https://[^\s/]+", base):
        raise ValueError("the URL must start with https:// (Slack only calls HTTPS endpoints)")
    return path.read_text(encoding="utf-8").replace("https://HOST", base).replace("/uptake", command)


@cli.command("manifest")
def manifest(
    url: str = typer.Option(..., "--url", help="Public base URL of Uptake, e.g. https://uptake.example.com"),
) -> None:
    """Print the Slack app manifest with the request URLs filled in (paste it at api.slack.com/apps → From a
    manifest)."""
    from bot.config import get_settings

    try:
        typer.echo(manifest_text(url, get_settings().slack_command))
    except ValueError as e:
        typer.echo(f"uptake: {e}", err=True)
        raise typer.Exit(2) from None
