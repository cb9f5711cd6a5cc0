"""Chroma adapter (``pip install 'vecstore[chroma]'``)."""

from .store import ChromaCollection, ChromaStore

__all__ = ["ChromaCollection", "ChromaStore"]
