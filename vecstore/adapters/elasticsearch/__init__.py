"""Elasticsearch adapter (``pip install 'vecstore[elasticsearch]'``)."""

from .store import ElasticsearchCollection, ElasticsearchStore

__all__ = ["ElasticsearchCollection", "ElasticsearchStore"]
