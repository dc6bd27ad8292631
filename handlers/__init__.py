"""Capabilities: one module each. Importing this package registers them all with bot.registry."""

from handlers import broadcasts, core, faq, friction  # noqa: F401
