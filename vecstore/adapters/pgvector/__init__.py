"""PostgreSQL + pgvector: ``pgvector://user:pass@host/db``, ``pgvector:///dir``, ``pgvector://``."""

from .store import PgvectorCollection, PgvectorStore

__all__ = ["PgvectorCollection", "PgvectorStore"]
