"""Pytest fixtures for driving Uptake through its real Slack endpoint (filled by the Slack adapter work)."""
