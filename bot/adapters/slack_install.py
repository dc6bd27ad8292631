"""Multi-workspace installations: slack_sdk's own SQLAlchemy stores, with their tables on Uptake's metadata so
Alembic owns them (migration 0002_slack) instead of the stores' `create_tables()`."""

from __future__ import annotations

from slack_sdk.oauth.installation_store.sqlalchemy import AsyncSQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import AsyncSQLAlchemyOAuthStateStore
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db import Base

BOTS = AsyncSQLAlchemyInstallationStore.build_bots_table(Base.metadata, "slack_bots")
INSTALLATIONS = AsyncSQLAlchemyInstallationStore.build_installations_table(Base.metadata, "slack_installations")
OAUTH_STATES = AsyncSQLAlchemyOAuthStateStore.build_oauth_states_table(Base.metadata, "slack_oauth_states")

STATE_EXPIRY_SECONDS = 600


def installation_store(client_id: str, engine: AsyncEngine) -> AsyncSQLAlchemyInstallationStore:
    store = AsyncSQLAlchemyInstallationStore(client_id=client_id, engine=engine)
    store.metadata, store.bots, store.installations = Base.metadata, BOTS, INSTALLATIONS
    return store


def state_store(engine: AsyncEngine) -> AsyncSQLAlchemyOAuthStateStore:
    store = AsyncSQLAlchemyOAuthStateStore(expiration_seconds=STATE_EXPIRY_SECONDS, engine=engine)
    store.metadata, store.oauth_states = Base.metadata, OAUTH_STATES
    return store
