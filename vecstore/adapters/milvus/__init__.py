"""Milvus adapter (``pip install 'vecstore[milvus]'``): Milvus Lite and servers."""

from .store import MilvusCollection, MilvusStore

__all__ = ["MilvusCollection", "MilvusStore"]
