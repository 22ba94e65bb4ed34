"""The baselines the harness runs beside the engine, on the same corpus and questions.

- `langchain-chroma`: LangChain's tutorial recipe: RecursiveCharacterTextSplitter(1000, 200),
  the same MiniLM through langchain-huggingface, Chroma, similarity_search(k=10).
- `bm25`: bm25s over the same chunks.

Both indexes are cached, keyed on the corpus's content, the splitter and the model.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retrieval.models import Article

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

log = logging.getLogger(__name__)

CHUNK_SIZE, CHUNK_OVERLAP, K = 1000, 200, 10
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Retrieved:
    """What the harness scores for one question: ranked chunks as (article id, text)."""

    chunks: list[tuple[str, str]]
    ms: float


def split(articles: Sequence[Article]) -> list[Any]:
    from langchain_core.documents import Document
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP)
    docs = [Document(page_content=a.text, metadata={"article_id": a.id}) for a in articles]
    return splitter.split_documents(docs)


def huggingface_embeddings(model_path: Path) -> Embeddings:
    """The tutorial's embeddings: the model through langchain-huggingface (sentence-transformers,
    so torch)."""
    from retrieval.index.torch_encoder import offline_hub

    offline_hub()  # before langchain_huggingface imports sentence_transformers
    from langchain_huggingface import HuggingFaceEmbeddings

    return HuggingFaceEmbeddings(model_name=str(model_path), model_kwargs={"device": "cpu"})


class LangchainChroma:
    name = "langchain-chroma"

    def __init__(self, client: Any, collection: str, embeddings: Embeddings) -> None:
        from langchain_chroma import Chroma

        self.embeddings = embeddings
        self.store = Chroma(
            collection_name=collection, embedding_function=self.embeddings, client=client
        )

    def build(self, chunks: Sequence[Any], on_progress: Progress | None = None) -> None:
        """Index the chunks unless this collection already holds them all (the cache)."""
        have = self.store._collection.count()
        if have == len(chunks):
            return
        if have:
            self.store.reset_collection()
        ids = [f"{d.metadata['article_id']}:{k}" for k, d in enumerate(chunks)]
        batch = 256
        for lo in range(0, len(chunks), batch):
            self.store.add_documents(list(chunks[lo : lo + batch]), ids=ids[lo : lo + batch])
            if on_progress:
                on_progress(min(lo + batch, len(chunks)), len(chunks))

    def retrieve(self, question: str) -> Retrieved:
        t = time.perf_counter()
        docs = self.store.similarity_search(question, k=K)
        ms = (time.perf_counter() - t) * 1000
        return Retrieved([(d.metadata["article_id"], d.page_content) for d in docs], ms)


class BM25Baseline:
    name = "bm25"

    def __init__(self, cache_dir: Path, chunks: Sequence[Any]) -> None:
        import bm25s

        logging.getLogger("bm25s").setLevel(logging.WARNING)  # it sets itself to DEBUG

        self.texts = [d.page_content for d in chunks]
        self.article_ids = [d.metadata["article_id"] for d in chunks]
        marker = cache_dir / "article_ids.json"
        if marker.is_file() and json.loads(marker.read_text()) == self.article_ids:
            self.retriever = bm25s.BM25.load(str(cache_dir), show_progress=False)
        else:
            self.retriever = bm25s.BM25()
            tokens = bm25s.tokenize(self.texts, stopwords="en", show_progress=False)
            self.retriever.index(tokens, show_progress=False)
            cache_dir.mkdir(parents=True, exist_ok=True)
            self.retriever.save(str(cache_dir), show_progress=False)
            marker.write_text(json.dumps(self.article_ids))

    def retrieve(self, question: str) -> Retrieved:
        import bm25s

        t = time.perf_counter()
        tokens = bm25s.tokenize([question], stopwords="en", show_progress=False)
        if not tokens.vocab:
            return Retrieved([], (time.perf_counter() - t) * 1000)
        k = min(K, len(self.texts))
        idx, _scores = self.retriever.retrieve(tokens, k=k, show_progress=False, n_threads=1)
        ms = (time.perf_counter() - t) * 1000
        return Retrieved([(self.article_ids[i], self.texts[i]) for i in idx[0]], ms)
