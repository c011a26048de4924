"""Persistent state: SQLAlchemy 2 async models, the engine, and alembic migrations."""
