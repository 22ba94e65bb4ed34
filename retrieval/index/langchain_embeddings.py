"""Either encoder as a LangChain `Embeddings` (for langchain-chroma, as the harness's baseline).

Importing langchain_core costs ~0.4 s, which a question that never touches LangChain should not
pay; so nothing on the answer path imports this module.
"""

from __future__ import annotations

from langchain_core.embeddings import Embeddings

from retrieval.index.embedding import Encoder


class LangchainEmbeddings(Embeddings):
    """An `Encoder` behind LangChain's `Embeddings` interface."""

    def __init__(self, encoder: Encoder, batch_size: int | None = None) -> None:
        self.encoder = encoder
        self.batch_size = batch_size

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if self.batch_size is None:
            vectors = self.encoder.encode(texts)
        else:
            vectors = self.encoder.encode(texts, batch_size=self.batch_size)
        return vectors.tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.encoder.encode([text])[0].tolist()
