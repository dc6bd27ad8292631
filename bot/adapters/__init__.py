"""Platform adapters. Each platform module offers `async def mount(app, rt) -> str`: it adds its routes to
the aiohttp application, registers its outbound sender in `rt.senders` when enabled, and returns the one
status line the server logs at start (enabled, or off and which variable turns it on)."""

PLATFORM_MODULES = ("bot.adapters.slack", "bot.adapters.teams")
