"""A LangChain chat model from the settings (BRIEFBOT_LLM), and the fence that keeps the
passages' untrusted text from forging the prompt around it: what the writer (llm.py) and the
judge (judge.py) both use."""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import prompts
from retrieval.answering.evidence import Passage
from retrieval.config import PROVIDERS, parse_model_name
from retrieval.errors import SettingsError

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from retrieval.config import Settings


def check_model_settings(settings: Settings) -> None:
    """A SettingsError naming what is missing for BRIEFBOT_LLM (the integration's package, the
    provider's key), before anything is imported or sent."""
    provider, _ = parse_model_name(settings.llm)
    spec = PROVIDERS[provider]
    if importlib.util.find_spec(spec.module) is None:
        raise SettingsError(
            f"BRIEFBOT_LLM={settings.llm} needs {spec.package}: "
            f"pip install 'briefbot[{spec.extra}]'"
        )
    # A self-hosted OpenAI-compatible server (BRIEFBOT_LLM_BASE_URL) often needs no key.
    needs_key = spec.key_variable and not (provider == "openai" and settings.llm_base_url)
    if needs_key and not os.environ.get(spec.key_variable or ""):
        raise SettingsError(f"BRIEFBOT_LLM={settings.llm} needs {spec.key_variable} to be set.")


def make_chat_model(settings: Settings) -> BaseChatModel:
    """The chat model BRIEFBOT_LLM names, through its LangChain integration, with the timeout
    and no retries of its own (the writer's retries are the only ones, the same for every
    provider)."""
    check_model_settings(settings)
    provider, model = parse_model_name(settings.llm)
    spec = PROVIDERS[provider]
    chat_model = getattr(importlib.import_module(spec.module), spec.chat_model)
    base_url = settings.llm_base_url or None
    timeout = settings.llm_timeout_s
    kwargs: dict[str, Any] = {"model": model, "temperature": 0}
    if provider == "ollama":
        kwargs.update(base_url=base_url, client_kwargs={"timeout": timeout})
    else:
        kwargs.update(timeout=timeout, max_retries=0)
        if base_url:
            kwargs["base_url"] = base_url
        if provider == "openai" and not os.environ.get("OPENAI_API_KEY"):
            kwargs["api_key"] = "unused"  # a local server that takes no key
    return chat_model(**kwargs)


def fenced(text: str, attribute: bool = False) -> str:
    """Untrusted text that cannot close or forge the fence around it (nor, as an attribute's
    value, end the attribute)."""
    text = text.replace("<", "‹").replace(">", "›")
    return text.replace('"', "'") if attribute else text


def passage_block(passages: Iterable[Passage]) -> str:
    return "\n".join(
        prompts.render(
            "llm_passage",
            n=str(p.n),
            title=fenced(" ".join(p.title.split()), attribute=True),
            source=fenced(p.source, attribute=True),
            date=p.published or "unknown",
            speaker=fenced(", ".join(p.speakers) or "none", attribute=True),
            text=fenced(" ".join(p.text.split())),
        )
        for p in passages
    )
