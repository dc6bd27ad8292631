"""Reusable test support: local mock platform servers and harnesses that drive the real HTTP endpoints."""
