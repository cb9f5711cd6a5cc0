"""Qdrant adapters (``pip install 'vecstore[qdrant]'``): qdrant-client (local
mode and servers) in :mod:`.store`, Qdrant Edge in :mod:`.edge`."""

from .store import QdrantCollection, QdrantStore

__all__ = ["QdrantCollection", "QdrantStore"]
