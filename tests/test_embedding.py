"""The numpy encoder gives the sentence-transformers vectors, without importing torch."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from retrieval.config import PROJECT_ROOT, default_model_path
from retrieval.errors import SettingsError
from retrieval.index.embedding import NumpyEncoder, model_fingerprint
from retrieval.index.torch_encoder import TorchEncoder

LONG = " ".join(
    f"Paragraph {i}: the ministry said on Tuesday that exports rose {i}.{i}% in May, "
    f"while imports fell, according to figures published in Zürich and São Paulo."
    for i in range(12)
)

SENTENCES = [
    "What did the central bank say about interest rates?",
    "hi",
    "",
    '"We are not out of the woods yet," the minister told reporters.',
    "Shares rose 4.3% to $131.27; the index closed at 5,431.60.",
    "Ärzte in München warnen vor einer Grippewelle — die Fälle stiegen um 17 %.",
    "東京証券取引所の日経平均株価は3日続伸した。",
    "Emoji reactions 🚀🔥 flooded the post after the IPO priced at ¥2,400.",
    "The CEO — who joined in 2019 — will step down on Jan. 1, the board said.",
    LONG,
]


@pytest.fixture(scope="session")
def torch_encoder() -> TorchEncoder:
    return TorchEncoder()


def test_the_long_text_is_past_the_window(numpy_encoder: NumpyEncoder) -> None:
    assert numpy_encoder.max_seq_length == 256
    assert numpy_encoder.count_tokens(LONG) > 300


def test_numpy_and_torch_vectors_agree(
    numpy_encoder: NumpyEncoder, torch_encoder: TorchEncoder
) -> None:
    a = numpy_encoder.encode(SENTENCES)
    b = torch_encoder.encode(SENTENCES)
    assert a.shape == b.shape == (len(SENTENCES), 384)
    assert a.dtype == b.dtype == np.float32
    cosines = (a * b).sum(axis=1)
    assert cosines.min() >= 0.9999, dict(zip(SENTENCES, cosines.round(6), strict=True))


def test_truncation_matches_sentence_transformers(
    numpy_encoder: NumpyEncoder, torch_encoder: TorchEncoder
) -> None:
    features = torch_encoder.model.tokenize([LONG])
    expected = features["input_ids"][0].tolist()
    assert len(expected) == 256
    assert numpy_encoder._token_ids([LONG]) == [expected]
    # The text beyond the window changes nothing.
    a, b = numpy_encoder.encode([LONG, LONG + " And then a great deal more happened."])
    assert float(a @ b) > 0.999999


def test_count_tokens_agrees_with_the_sentence_transformers_tokenizer(
    numpy_encoder: NumpyEncoder, torch_encoder: TorchEncoder
) -> None:
    hf_tokenizer = torch_encoder.model.tokenizer
    for text in SENTENCES:
        expected = len(hf_tokenizer(text, truncation=False, verbose=False)["input_ids"])
        assert numpy_encoder.count_tokens(text) == expected, text
        assert torch_encoder.count_tokens(text) == expected, text
    expected = [numpy_encoder.count_tokens(t) for t in SENTENCES]
    assert numpy_encoder.count_tokens_batch(SENTENCES) == expected
    assert torch_encoder.count_tokens_batch(SENTENCES) == expected


def test_token_offsets_point_into_the_text(numpy_encoder: NumpyEncoder) -> None:
    text = "São Paulo's café reopened — “finally,” said Zoë, 34. 🚀"
    offsets = numpy_encoder.token_offsets(text)
    assert len(offsets) == numpy_encoder.count_tokens(text) - 2
    assert all(0 <= s < e <= len(text) for s, e in offsets)
    assert offsets == sorted(offsets)
    assert text[offsets[0][0] : offsets[0][1]] == "São"
    assert text[offsets[-1][0] : offsets[-1][1]] == "🚀"


def test_encode_keeps_input_order_whatever_the_batching(numpy_encoder: NumpyEncoder) -> None:
    one_by_one = np.vstack([numpy_encoder.encode([t]) for t in SENTENCES])
    batched = numpy_encoder.encode(SENTENCES, batch_size=3)
    np.testing.assert_allclose(batched, one_by_one, atol=2e-6)
    np.testing.assert_allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-6)


def test_encode_edge_cases(numpy_encoder: NumpyEncoder) -> None:
    assert numpy_encoder.encode([]).shape == (0, 384)
    with pytest.raises(TypeError):
        numpy_encoder.encode("a single string")  # type: ignore[arg-type]


def test_the_question_path_never_imports_torch() -> None:
    code = (
        "import sys\n"
        "from retrieval.index.embedding import NumpyEncoder\n"
        "e = NumpyEncoder()\n"
        "e.encode(['What happened?']); e.count_tokens('x'); e.token_offsets('x')\n"
        "heavy = [m for m in ('torch', 'sentence_transformers', 'transformers', 'scipy',\n"
        "                     'langchain_core') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_loading_the_torch_model_downloads_nothing(tmp_path: Path) -> None:
    """`import retrieval` leaves the environment alone; the torch encoder turns the Hub offline
    itself, before sentence-transformers is imported, and connects nowhere."""
    code = (
        "import os, socket\n"
        "attempts = []\n"
        "def connect(self, address):\n"
        "    attempts.append(address)\n"
        "    raise OSError('no network in this test')\n"
        "socket.socket.connect = connect\n"
        "import retrieval\n"
        "assert 'HF_HUB_OFFLINE' not in os.environ\n"
        "from retrieval.index.torch_encoder import TorchEncoder\n"
        "e = TorchEncoder()\n"
        "import huggingface_hub.constants\n"
        "assert huggingface_hub.constants.HF_HUB_OFFLINE, 'the Hub was imported online'\n"
        "assert e.encode(['hi']).shape == (1, e.dimension)\n"
        "assert not attempts, attempts\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    env["HF_HOME"] = str(tmp_path / "hf")  # an empty cache: nothing to find there either
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_langchain_adapter(numpy_encoder: NumpyEncoder) -> None:
    from langchain_core.embeddings import Embeddings

    from retrieval.index.langchain_embeddings import LangchainEmbeddings

    adapter = LangchainEmbeddings(numpy_encoder)
    assert isinstance(adapter, Embeddings)
    query = adapter.embed_query("rail strike")
    docs = adapter.embed_documents(["rail strike", "grain prices"])
    assert len(query) == 384 and len(docs) == 2
    np.testing.assert_allclose(docs[0], query, atol=1e-6)


def _copy_model(source: Path, target: Path) -> Path:
    target.mkdir()
    for item in source.rglob("*"):
        if item.is_file():
            dest = target / item.relative_to(source)
            dest.parent.mkdir(parents=True, exist_ok=True)
            if item.name == "model.safetensors":
                dest.symlink_to(item)  # 90 MB: a link is content enough
            else:
                shutil.copy(item, dest)
    return target


def test_model_fingerprint_follows_content_not_path(tmp_path: Path) -> None:
    source = default_model_path()
    fingerprint = model_fingerprint(source)
    assert len(fingerprint) == 16 and int(fingerprint, 16) >= 0
    copy = _copy_model(source, tmp_path / "copy")
    assert model_fingerprint(copy) == fingerprint

    config = copy / "sentence_bert_config.json"
    config.write_text(config.read_text().replace("256", "128"))
    assert model_fingerprint(copy) != fingerprint


def test_a_missing_model_is_a_settings_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="does not exist"):
        NumpyEncoder(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SettingsError, match="config.json"):
        NumpyEncoder(tmp_path / "empty")
