"""Deliver a neutral Reply to the Slack conversation a request came from.

- private → ephemeral through the response_url (slash commands, buttons, shortcuts) or chat.postEphemeral;
  a DM to the app is answered with a normal DM message;
- public → in the channel (response_url `in_channel`, or chat.postMessage in the thread of a mention);
- replace → the clicked message is updated (response_url `replace_original`, else chat.update);
- form → a modal (views.open with the trigger id, views.push from inside a modal). A DM or @mention has no
  trigger id, so the form is offered behind an "Open the form" button that carries it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import secrets
import time
from dataclasses import replace
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.request import HttpRequest as RetryRequest
from slack_sdk.http_retry.response import HttpResponse as RetryResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.proxy_env_variable_loader import load_http_proxy_from_env
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.internal_utils import get_user_agent

from bot.adapters import slack_limits as lim
from bot.adapters.slack_inbound import Turn
from bot.adapters.slack_render import render_form, render_message
from bot.adapters.slack_send import SlackClients, retry_handlers
from bot.model import Actions, Button, Form, FormField, Message, Option, Reply, Style, Where

log = logging.getLogger("uptake.slack")

OPEN_FORM = "uptake.open_form"  # the adapter's own action id (never reaches the router)
STASH_SECONDS = 3600


class FormStash:
    """Forms too big for a button value, kept for an hour (per process) until their button is clicked."""

    def __init__(self) -> None:
        self.forms: dict[str, tuple[float, Form]] = {}

    def put(self, form: Form) -> str:
        encoded = json.dumps(dataclasses.asdict(form), separators=(",", ":"), default=str)
        if len(encoded) <= lim.BUTTON_VALUE - 2:
            return "j:" + encoded
        now = time.monotonic()
        self.forms = {k: v for k, v in self.forms.items() if v[0] > now}
        key = secrets.token_urlsafe(12)
        self.forms[key] = (now + STASH_SECONDS, form)
        return "k:" + key

    def take(self, value: str) -> Form | None:
        if value.startswith("j:"):
            try:
                return _form_from(json.loads(value[2:]))
            except (ValueError, KeyError, TypeError):
                return None
        hit = self.forms.get(value[2:])
        return hit[1] if hit and hit[0] > time.monotonic() else None


def _form_from(data: dict[str, Any]) -> Form:
    fields = tuple(
        FormField(**{**f, "options": tuple(Option(**o) for o in f.get("options") or [])}) for f in data["fields"]
    )
    return Form(**{**data, "fields": fields, "errors": data.get("errors") or {}})


class ResponseUrls:
    """POSTs to response_urls through the shared HTTP session, retried like the Web API client (connection
    errors, 429 after Retry-After, 500/503) with slack_sdk's own retry handlers.

    Why not slack_sdk's AsyncWebhookClient: it takes the URL in its constructor, so it was built once per answer
    (user-agent string from platform calls, proxy environment lookups), and it formats its debug lines (the whole
    body) before the logger drops them. Together ≈ 9 % of the server's samples under load; here the headers and
    the proxy are worked out once per process.
    """

    def __init__(self, clients: SlackClients) -> None:
        self.clients = clients
        self.headers = {"Content-Type": "application/json;charset=utf-8", "User-Agent": get_user_agent()}
        self.proxy = load_http_proxy_from_env(log)
        self.timeout = aiohttp.ClientTimeout(total=10)

    async def post(self, url: str, body: dict[str, Any]) -> int:
        """The final HTTP status; raises what the last attempt raised (connection trouble after the retries)."""
        body = {k: v for k, v in body.items() if v is not None}  # as slack_sdk's webhook client sends it
        data = json.dumps(body)
        handlers = retry_handlers()
        state, request = RetryState(), RetryRequest(method="POST", url=url, headers=self.headers, body_params=body)
        session = self.clients.http()
        while True:
            state.next_attempt_requested = False
            try:
                async with session.post(
                    url, data=data, headers=self.headers, proxy=self.proxy, timeout=self.timeout
                ) as res:
                    text = await res.text()
                    response = RetryResponse(status_code=res.status, headers=dict(res.headers), data=text.encode())
                    if res.status < 300 or not await self._retry(handlers, state, request, response, None):
                        return res.status
            except (aiohttp.ClientError, TimeoutError) as e:
                if not await self._retry(handlers, state, request, None, e):
                    raise

    @staticmethod
    async def _retry(
        handlers: list[Any],
        state: RetryState,
        request: RetryRequest,
        response: RetryResponse | None,
        error: Exception | None,
    ) -> bool:
        """True after waiting for the next attempt when a handler (with attempts left) takes this outcome."""
        for handler in handlers:
            if await handler.can_retry_async(state=state, request=request, response=response, error=error):
                await handler.prepare_for_next_attempt_async(
                    state=state, request=request, response=response, error=error
                )
                return state.next_attempt_requested
        return False


class Responder:
    def __init__(self, clients: SlackClients, stash: FormStash) -> None:
        self.clients = clients
        self.stash = stash
        self.response_urls = ResponseUrls(clients)

    async def deliver(self, client: AsyncWebClient, turn: Turn, reply: Reply) -> None:
        """Send everything in `reply`; a Slack error is logged and, when possible, told to the person."""
        try:
            if reply.form is not None:
                await self.open_form(client, turn, reply.form)
            if reply.message is not None:
                await self.send(client, turn, reply.message, private=reply.private, replace_original=reply.replace)
            for msg in reply.follow_ups:
                await self.send(client, turn, msg, private=reply.private, replace_original=False)
        except SlackApiError as e:
            code = e.response.get("error") if isinstance(e.response.data, dict) else e.response.status_code
            log.warning("slack reply failed method=%s error=%s", e.response.api_url.rsplit("/", 1)[-1], code)
            await self._apologise(client, turn, str(code))

    async def open_form(self, client: AsyncWebClient, turn: Turn, form: Form) -> None:
        if turn.trigger_id:
            view = render_form(form, turn.answer_in())
            if turn.view_id:
                await client.views_push(trigger_id=turn.trigger_id, view=view)
            else:
                await client.views_open(trigger_id=turn.trigger_id, view=view)
            return
        button = Button("Open the form", OPEN_FORM, self.stash.put(form), style=Style.primary)
        offer = Message(text=f"{form.title}: open the form to continue.", blocks=(Actions(buttons=(button,)),))
        await self.send(client, turn, offer, private=True, replace_original=False)

    async def send(
        self, client: AsyncWebClient, turn: Turn, message: Message, *, private: bool, replace_original: bool
    ) -> None:
        for i, payload in enumerate(render_message(message)):
            if replace_original and i == 0 and (turn.response_url or turn.message_ts):
                if turn.response_url:
                    await self.respond(turn.response_url, {**payload, "replace_original": True})
                else:
                    await client.chat_update(channel=turn.channel_id or "", ts=turn.message_ts or "", **payload)
                continue
            thread = {"thread_ts": turn.thread_ts} if turn.thread_ts else {}
            if private:
                if turn.response_url:
                    body = {**payload, "response_type": "ephemeral", "replace_original": False}
                    await self.respond(turn.response_url, body)
                elif turn.where == Where.direct or not turn.channel_id:
                    await client.chat_postMessage(channel=turn.channel_id or turn.user_id, **payload)
                else:
                    await client.chat_postEphemeral(channel=turn.channel_id, user=turn.user_id, **payload, **thread)
            elif turn.response_url:
                await self.respond(turn.response_url, {**payload, "response_type": "in_channel"})
            else:
                await client.chat_postMessage(channel=turn.channel_id or turn.user_id, **payload, **thread)

    async def respond(self, url: str, body: dict[str, Any]) -> None:
        status = await self.response_urls.post(url, body)
        if status >= 300:
            log.warning("slack response_url answered %s", status)

    async def _apologise(self, client: AsyncWebClient, turn: Turn, code: str) -> None:
        text = (
            "Sorry, Slack didn't accept my answer "
            f"({code}). Please try again in a moment; if it keeps happening, tell your change lead."
        )
        try:
            await self.send(
                client, replace(turn, response_url=None), Message(text=text), private=True, replace_original=False
            )
        except SlackApiError:
            log.warning("slack: could not tell the person about a failed reply either")
