"""The ingestion pipeline: loaders, chunking, the embedding cache, and :func:`ingest`."""
