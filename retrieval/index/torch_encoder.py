"""`TorchEncoder`: the sentence-transformers model on the CPU, for bulk ingest.

The reference implementation of the vectors `NumpyEncoder` (retrieval/index/embedding.py) gives too.
Importing torch costs about 10 s, so nothing imports this module until a document is embedded.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.errors import SettingsError
from retrieval.index.embedding import check_texts, model_dir


def offline_hub() -> None:
    """Nothing may be downloaded at run time: a model name not found locally would otherwise be
    retried against the Hugging Face Hub for over a minute. huggingface_hub reads these when it
    is first imported, so this runs before anything imports sentence_transformers or
    transformers (a variable the user set is left as it is)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


class TorchEncoder:
    """The sentence-transformers model on the CPU, for bulk ingest. Imports torch (~10 s)."""

    def __init__(self, model_path: str | Path | None = None, device: str = "cpu") -> None:
        offline_hub()
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # "Loading weights" on stderr says nothing to a user
        path = model_dir(model_path)
        self.model_path = path
        self.model = SentenceTransformer(str(path), device=device)
        max_seq_length = self.model.max_seq_length
        dimension = self.model.get_embedding_dimension()
        if max_seq_length is None or dimension is None:
            raise SettingsError(f"The model in {path} is not a text embedding model.")
        self.max_seq_length: int = max_seq_length
        self.dimension: int = dimension

    def __repr__(self) -> str:
        return f"TorchEncoder({str(self.model_path)!r})"

    @property
    def tokenizer(self) -> Any:
        """The Hugging Face tokenizer sentence-transformers uses."""
        return self.model.tokenizer

    def count_tokens(self, text: str) -> int:
        """Word pieces in `text`, [CLS] and [SEP] included, before truncation."""
        encoded = self.model.tokenizer(
            text, add_special_tokens=True, truncation=False, verbose=False
        )
        return len(encoded["input_ids"])

    def count_tokens_batch(self, texts: Sequence[str]) -> list[int]:
        """`count_tokens` for many texts at once."""
        texts = check_texts(texts)
        if not texts:
            return []
        encoded = self.model.tokenizer(
            texts, add_special_tokens=True, truncation=False, verbose=False
        )
        return [len(ids) for ids in encoded["input_ids"]]

    def encode(
        self, texts: Sequence[str], batch_size: int = 64, show_progress: bool = False
    ) -> np.ndarray:
        """Embed `texts`: an (n, dimension) float32 array of unit vectors, in input order."""
        texts = check_texts(texts)
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(
            texts,
            batch_size=batch_size,
            show_progress_bar=show_progress,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        return np.asarray(vectors, dtype=np.float32)
