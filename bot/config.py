"""One Settings object from the environment (and `.env`), secrets kept as SecretStr.

Variables use the `UPTAKE_` prefix; the platforms' conventional names (SLACK_BOT_TOKEN, MicrosoftAppId, …)
and DATABASE_URL are read as they are, so existing deployment recipes work unchanged.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]


def _alias(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True)

    # --- serving
    host: str = Field("127.0.0.1", validation_alias=_alias("UPTAKE_HOST", "host"))
    port: int = Field(3978, validation_alias=_alias("UPTAKE_PORT", "port"))
    env: str = Field("dev", validation_alias=_alias("UPTAKE_ENV", "env"))
    log_level: str = Field("INFO", validation_alias=_alias("UPTAKE_LOG_LEVEL", "log_level"))
    public_url: str | None = Field(None, validation_alias=_alias("UPTAKE_PUBLIC_URL", "public_url"))

    # --- storage
    data_dir: Path = Field(Path(".data"), validation_alias=_alias("UPTAKE_DATA_DIR", "data_dir"))
    database_url: SecretStr | None = Field(
        None, validation_alias=_alias("DATABASE_URL", "UPTAKE_DATABASE_URL", "database_url")
    )
    content_dir: Path = Field(ROOT / "content", validation_alias=_alias("UPTAKE_CONTENT_DIR", "content_dir"))

    # --- rollout and people
    rollout: str = Field("default", validation_alias=_alias("UPTAKE_ROLLOUT", "rollout"))
    admins: str = Field(
        "",
        validation_alias=_alias("UPTAKE_ADMINS", "admins"),
        description="Comma-separated admin identities: slack:TEAM:USER, teams:TENANT:AAD, console:local:NAME",
    )
    max_text: int = Field(4000, validation_alias=_alias("UPTAKE_MAX_TEXT", "max_text"))

    # --- outbox (bot/delivery.py) and rate limits (bot/ratelimit.py)
    rate_limits: str = Field(
        "", validation_alias=_alias("UPTAKE_RATE_LIMITS", "rate_limits"), description="JSON merged over the defaults"
    )
    outbox_lease_seconds: float = Field(120.0, validation_alias=_alias("UPTAKE_OUTBOX_LEASE", "outbox_lease_seconds"))
    outbox_batch: int = Field(50, validation_alias=_alias("UPTAKE_OUTBOX_BATCH", "outbox_batch"))
    outbox_concurrency: int = Field(16, validation_alias=_alias("UPTAKE_OUTBOX_CONCURRENCY", "outbox_concurrency"))
    outbox_max_attempts: int = Field(6, validation_alias=_alias("UPTAKE_OUTBOX_MAX_ATTEMPTS", "outbox_max_attempts"))
    outbox_resend_unconfirmed: bool = Field(
        True,
        validation_alias=_alias("UPTAKE_OUTBOX_RESEND_UNCONFIRMED", "outbox_resend_unconfirmed"),
        description="After a crash, resend rows whose outcome cannot be checked (flagged possibly duplicated)",
    )
    # --- FAQ (handlers/faq): matcher and thresholds; empty thresholds are chosen by cross-validation on the content
    faq_matcher: str = Field("lexical", validation_alias=_alias("UPTAKE_FAQ_MATCHER", "faq_matcher"))
    faq_model: str | None = Field(None, validation_alias=_alias("UPTAKE_FAQ_MODEL", "faq_model"))
    # Fine-tune the semantic encoder on the FAQ's phrasings in a background process (handlers/faq/tuning.py).
    faq_tune: bool = Field(False, validation_alias=_alias("UPTAKE_FAQ_TUNE", "faq_tune"))
    faq_answer_threshold: float | None = Field(
        None, validation_alias=_alias("UPTAKE_FAQ_ANSWER_THRESHOLD", "faq_answer_threshold")
    )
    faq_suggest_threshold: float | None = Field(
        None, validation_alias=_alias("UPTAKE_FAQ_SUGGEST_THRESHOLD", "faq_suggest_threshold")
    )
    faq_resurface_hours: float = Field(24, validation_alias=_alias("UPTAKE_FAQ_RESURFACE_HOURS", "faq_resurface_hours"))
    faq_review_days: int = Field(90, validation_alias=_alias("UPTAKE_FAQ_REVIEW_DAYS", "faq_review_days"))
    faq_learned_per_entry: int = Field(
        25, validation_alias=_alias("UPTAKE_FAQ_LEARNED_PER_ENTRY", "faq_learned_per_entry")
    )

    # --- Slack
    slack_bot_token: SecretStr | None = Field(None, validation_alias=_alias("SLACK_BOT_TOKEN", "slack_bot_token"))
    slack_signing_secret: SecretStr | None = Field(
        None, validation_alias=_alias("SLACK_SIGNING_SECRET", "slack_signing_secret")
    )
    slack_app_token: SecretStr | None = Field(None, validation_alias=_alias("SLACK_APP_TOKEN", "slack_app_token"))
    slack_client_id: str | None = Field(None, validation_alias=_alias("SLACK_CLIENT_ID", "slack_client_id"))
    slack_client_secret: SecretStr | None = Field(
        None, validation_alias=_alias("SLACK_CLIENT_SECRET", "slack_client_secret")
    )
    slack_api_url: str = Field("https://slack.com/api/", validation_alias=_alias("SLACK_API_URL", "slack_api_url"))
    slack_command: str = Field("/uptake", validation_alias=_alias("UPTAKE_SLACK_COMMAND", "slack_command"))
    slack_team_field: str | None = Field(None, validation_alias=_alias("UPTAKE_SLACK_TEAM_FIELD", "slack_team_field"))

    # --- Teams (Bot Framework conventional names)
    microsoft_app_id: str | None = Field(None, validation_alias=_alias("MicrosoftAppId", "MICROSOFT_APP_ID"))
    microsoft_app_password: SecretStr | None = Field(
        None, validation_alias=_alias("MicrosoftAppPassword", "MICROSOFT_APP_PASSWORD")
    )
    microsoft_app_type: str = Field("SingleTenant", validation_alias=_alias("MicrosoftAppType", "MICROSOFT_APP_TYPE"))
    microsoft_app_tenant_id: str | None = Field(
        None, validation_alias=_alias("MicrosoftAppTenantId", "MICROSOFT_APP_TENANT_ID")
    )
    # Where Bot Framework signing keys and app tokens come from; changed only for sovereign clouds and tests.
    teams_openid_metadata_url: str = Field(
        "https://login.botframework.com/v1/.well-known/openidconfiguration",
        validation_alias=_alias("UPTAKE_TEAMS_OPENID_METADATA_URL", "teams_openid_metadata_url"),
    )
    teams_login_url: str = Field(
        "https://login.microsoftonline.com", validation_alias=_alias("UPTAKE_TEAMS_LOGIN_URL", "teams_login_url")
    )

    @field_validator("faq_answer_threshold", "faq_suggest_threshold", mode="before")
    @classmethod
    def _empty_threshold(cls, v: object) -> object:
        return None if v == "" else v

    @field_validator("faq_matcher")
    @classmethod
    def _known_matcher(cls, v: str) -> str:
        v = v.strip().lower()
        if v not in ("lexical", "semantic", "hybrid"):
            raise ValueError("UPTAKE_FAQ_MATCHER is lexical, semantic or hybrid")
        return v

    @field_validator("slack_api_url")
    @classmethod
    def _trailing_slash(cls, v: str) -> str:
        return v if v.endswith("/") else v + "/"

    @property
    def db_url(self) -> str:
        """The SQLAlchemy URL: DATABASE_URL, or the embedded SQLite file in the data directory."""
        if self.database_url is not None:
            return normalise_db_url(self.database_url.get_secret_value())
        return f"sqlite+aiosqlite:///{(self.data_dir / 'uptake.db').resolve()}"

    @property
    def db_url_safe(self) -> str:
        """The database URL without its password, for logs and error messages."""
        return redact_url(self.db_url)

    def admin_identities(self) -> set[tuple[str, str, str]]:
        out: set[tuple[str, str, str]] = set()
        for item in self.admins.split(","):
            parts = item.strip().split(":", 2)
            if len(parts) == 3 and all(parts):
                out.add((parts[0], parts[1], parts[2]))
        return out


def normalise_db_url(url: str) -> str:
    """Accept the usual `postgres://` / `postgresql://` URLs and pick the async drivers."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+asyncpg://" + url[len("postgresql://") :]
    if url.startswith("sqlite:///"):
        url = "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    return url


def redact_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable database URL>"


def get_settings(**overrides: object) -> Settings:
    return Settings(**overrides)  # type: ignore[arg-type]
