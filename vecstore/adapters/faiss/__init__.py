"""Faiss adapter (``pip install 'vecstore[faiss]'``)."""

from .store import FaissCollection, FaissStore

__all__ = ["FaissCollection", "FaissStore"]
