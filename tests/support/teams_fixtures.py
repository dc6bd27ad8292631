"""Pytest fixtures for driving Uptake through its real Teams endpoint (filled by the Teams adapter work)."""
