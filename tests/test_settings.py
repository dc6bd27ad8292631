"""Settings: platform conventional names work, secrets never show up in text or logs."""

from __future__ import annotations

import logging

import pytest

from bot.config import Settings, redact_url


def test_secrets_are_not_printed(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-very-secret-token")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "signing-secret-value")
    monkeypatch.setenv("MicrosoftAppPassword", "ms-app-password")
    monkeypatch.setenv("DATABASE_URL", "postgresql://uptake:db-password@db.example:5432/uptake")
    s = Settings()
    assert s.slack_bot_token is not None and s.slack_bot_token.get_secret_value() == "xoxb-very-secret-token"
    with caplog.at_level(logging.INFO):
        logging.getLogger("uptake").info("settings %s %r", s, s)
    text = repr(s) + str(s) + s.model_dump_json() + caplog.text + s.db_url_safe
    for secret in ("xoxb-very-secret-token", "signing-secret-value", "ms-app-password", "db-password"):
        assert secret not in text
    assert s.db_url.startswith("postgresql+asyncpg://")


def test_redact_url_hides_password() -> None:
    assert "pw" not in redact_url("postgresql+asyncpg://u:pw@h/db")
    assert "***" in redact_url("postgresql+asyncpg://u:pw@h/db")


def test_default_database_is_sqlite_in_data_dir(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("UPTAKE_DATA_DIR", str(tmp_path))
    s = Settings()
    assert s.db_url == f"sqlite+aiosqlite:///{tmp_path.resolve() / 'uptake.db'}"
