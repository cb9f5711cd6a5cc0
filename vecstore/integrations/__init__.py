"""vecstore behind the RAG frameworks: one integration per framework, the same on every backend.

* :mod:`vecstore.integrations.langchain` — a LangChain ``VectorStore`` (extra ``langchain``);
* :mod:`vecstore.integrations.llamaindex` — a LlamaIndex ``BasePydanticVectorStore`` (extra ``llamaindex``);
* :mod:`vecstore.integrations.haystack` — a Haystack ``DocumentStore`` and retriever (extra ``haystack``).

Each module imports its framework on import; this package imports none of them.
How framework metadata, ids, filters and scores map onto the contract is in
:mod:`vecstore.integrations._common` and in each module.
"""
