"""An optional LLM writer, for users who have one: an OpenAI-compatible chat completions API.

The extractive chain still picks and cites the passages; the LLM only rewrites them into prose
with [n] markers. Its answer is kept only if every marker points at a passage it was given and
it makes no claim without a marker; otherwise, or if the API fails, the extractive answer
stands. The API key is sent in a header and never logged.
"""

from __future__ import annotations

import json
import logging
import re
import urllib.error
import urllib.request
from dataclasses import replace

import prompts
from retrieval.config import Settings
from retrieval.models import Answer

log = logging.getLogger(__name__)
_MARKER = re.compile(r"\[(\d+)\]")


class LLMWriter:
    def __init__(self, url: str, model: str, api_key: str = "", timeout_s: float = 30.0) -> None:
        self.url = url.rstrip("/") + "/chat/completions"
        self.model = model
        self._api_key = api_key
        self.timeout_s = timeout_s

    @classmethod
    def from_settings(cls, settings: Settings) -> LLMWriter | None:
        if not settings.llm_url:
            return None
        return cls(
            settings.llm_url,
            settings.llm_model or "default",
            settings.llm_api_key.get_secret_value(),
            settings.llm_timeout_s,
        )

    def __repr__(self) -> str:  # never show the key
        return f"LLMWriter(url={self.url!r}, model={self.model!r})"

    def rewrite(self, answer: Answer, asked_on: str) -> Answer:
        """The answer in the LLM's words, if they keep to the cited passages; else unchanged."""
        if answer.abstained or not answer.citations:
            return answer
        passages = "\n".join(f"[{c.n}] {' '.join(c.quote.split())}" for c in answer.citations)
        prompt = prompts.render(
            "llm_answer",
            abstain=prompts.load("abstain"),
            passages=passages,
            asked_on=asked_on,
            question=answer.question,
        )
        try:
            text = self._complete(prompt)
        except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
            log.warning("LLM at %s failed (%s); keeping the extractive answer", self.url, exc)
            return answer
        if not self._grounded(text, {c.n for c in answer.citations}):
            log.warning("LLM answer cites passages it was not given; keeping the extractive one")
            return answer
        return replace(answer, answer=text.strip())

    def _complete(self, prompt: str) -> str:
        body = json.dumps(
            {
                "model": self.model,
                "messages": [{"role": "user", "content": prompt}],
                "temperature": 0,
            }
        ).encode()
        headers = {"Content-Type": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
            data = json.load(response)
        return str(data["choices"][0]["message"]["content"])

    @staticmethod
    def _grounded(text: str, numbers: set[int]) -> bool:
        cited = {int(n) for n in _MARKER.findall(text)}
        if not cited or not cited <= numbers:
            return False
        # Every sentence that says something carries a marker (or is followed by one).
        sentences = [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if len(s.split()) > 3]
        return all(_MARKER.search(s) for s in sentences)
