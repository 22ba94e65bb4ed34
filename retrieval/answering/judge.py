"""A chat model as the verifier's second stage: does what the cited passages say entail this
sentence?

Asked only about the sentences the deterministic checks kept (retrieval/answering/verification.py),
with structured output (a JSON schema: `supported`, `reason`); it can drop a sentence, never
keep one they dropped. When the judge fails (a timeout, an error, a reply that is not the
schema), the deterministic verdict stands: they are the floor. BRIEFBOT_LLM_JUDGE names the
model: the writer's own ("same", the default), another on the same server, or "off".
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import prompts
from retrieval.answering.chat_model import fenced, make_chat_model, passage_block
from retrieval.answering.evidence import Passage
from retrieval.answering.verification import Judgement

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from retrieval.config import Settings

log = logging.getLogger(__name__)

JUDGEMENT_SCHEMA: dict[str, Any] = {
    "title": "judgement",
    "description": "Whether the cited passages support everything the sentence says.",
    "type": "object",
    "properties": {
        "supported": {
            "type": "boolean",
            "description": "true only if the passages say everything the sentence says",
        },
        "reason": {"type": "string", "description": "what is unsupported, in a few words"},
    },
    "required": ["supported", "reason"],
    "additionalProperties": False,
}


class ModelJudge:
    """Judges a sentence against its cited passages with a chat model's structured output."""

    def __init__(self, model: BaseChatModel, name: str) -> None:
        self.name = name  # "provider:model", for logs: never a key
        self._structured = model.with_structured_output(JUDGEMENT_SCHEMA)
        self.calls = 0
        self.failures = 0
        self.seconds = 0.0  # time spent waiting for the judge, in all

    @classmethod
    def from_settings(cls, settings: Settings, writer_model: BaseChatModel) -> ModelJudge | None:
        """The judge BRIEFBOT_LLM_JUDGE names; None when it is "off"."""
        if settings.llm_judge == "off":
            return None
        if settings.llm_judge == "same":
            return cls(writer_model, settings.llm)
        other = settings.model_copy(update={"llm": settings.llm_judge})
        return cls(make_chat_model(other), settings.llm_judge)

    def __repr__(self) -> str:  # never show the model's client, which holds the key
        return f"ModelJudge({self.name!r})"

    def judge(self, claim: str, cited: Sequence[Passage]) -> Judgement | None:
        """The model's judgement of `claim`, or None when it gave none."""
        from langchain_core.messages import HumanMessage, SystemMessage

        prompt = [
            SystemMessage(prompts.load("judge_system")),
            HumanMessage(
                prompts.render(
                    "judge_user",
                    passages=passage_block(cited),
                    sentence=fenced(" ".join(claim.split())),
                )
            ),
        ]
        self.calls += 1
        t = time.perf_counter()
        try:
            out = self._structured.invoke(prompt)
        except Exception as exc:  # the deterministic verdict stands
            self.failures += 1
            log.warning(
                "the judge %s failed (%s); the checks' verdict stands",
                self.name,
                type(exc).__name__,
            )
            return None
        finally:
            self.seconds += time.perf_counter() - t
        if isinstance(out, dict) and isinstance(out.get("supported"), bool):
            return Judgement(out["supported"], str(out.get("reason") or ""))
        self.failures += 1
        log.warning("the judge %s gave no judgement; the checks' verdict stands", self.name)
        return None
