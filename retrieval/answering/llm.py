"""An optional chat model that writes the answer in prose, each sentence checked before it is
shown.

The extractive chain still picks and cites the passages; a LangChain chat model, named in
LangChain's `provider:model` form (BRIEFBOT_LLM), rewrites them into a short answer with [n]
markers. Its reply is read as it streams, cut into sentences, and each sentence is verified
(retrieval/answering/verification.py) before anyone sees it: a sentence that fails is dropped and
the answer says that something was left out; if none passes, the extractive answer stands. A
timeout, a 429 or a server error is tried again a bounded number of times, then the extractive
answer is given with a one-line notice. Keys come from the provider's own environment variable
(OPENAI_API_KEY, ANTHROPIC_API_KEY) and are never logged or shown.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import date
from typing import TYPE_CHECKING, Any

import prompts
from retrieval.answering.chat_model import fenced, make_chat_model, passage_block
from retrieval.answering.evidence import MARKER, Passage
from retrieval.answering.verification import Encode, Verifier
from retrieval.intake.sentences import sentences
from retrieval.models import Answer, Article

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import BaseMessage

    from retrieval.config import Settings

log = logging.getLogger(__name__)

OnSentence = Callable[[str], None]


def messages(question: str, passages: list[Passage], asked_on: date) -> list[BaseMessage]:
    """The system prompt and the user's turn: the fenced passages, the date, the question."""
    from langchain_core.messages import HumanMessage, SystemMessage

    return [
        SystemMessage(prompts.render("llm_system", abstain=prompts.load("abstain"))),
        HumanMessage(
            prompts.render(
                "llm_user",
                passages=passage_block(passages),
                asked_on=asked_on.isoformat(),
                question=fenced(question),
            )
        ),
    ]


def passages_for(answer: Answer, articles: Mapping[str, Article]) -> list[Passage]:
    """The answer's citations as passages for the model: with title, source, date and the
    speakers the attribution module reads in each quote."""
    from retrieval.answering.evidence import speakers_in

    out = []
    for c in answer.citations:
        art = articles.get(c.article_id)
        speakers = speakers_in(art.text, c.start, c.end, art.title) if art else ()
        out.append(Passage(c.n, c.quote, c.title, c.source, c.published, speakers))
    return out


# -- reading the stream -------------------------------------------------------------------
_LEADING_MARKERS = re.compile(rf"^(?:{MARKER.pattern}\s*)+")
_PARTIAL_MARKERS = re.compile(r"\s*(?:\[[\d,\s]*\]?\s*)+")


def split_sentences(text: str, final: bool) -> list[str]:
    """The complete sentences of a reply so far, each with the markers that follow it ("X. [2]"
    is one sentence); with `final`, the last one too. The last sentence is never complete while
    the reply streams, nor is the one before a marker still arriving ("X. [2")."""
    merged: list[str] = []
    pieces = [text[s:e] for s, e in sentences(text)]
    for piece in pieces:
        m = _LEADING_MARKERS.match(piece)
        if merged and m:
            merged[-1] = f"{merged[-1]} {m.group(0).strip()}"
            piece = piece[m.end() :]
        if piece.strip():
            merged.append(piece.strip())
    if final:
        return merged
    hold = 1
    if pieces and _PARTIAL_MARKERS.fullmatch(pieces[-1]):
        hold = 2  # "X. [2": the marker may belong to X
    return merged[:-hold] if len(merged) > hold else []


def _text_of(chunk: Any) -> str:
    content = getattr(chunk, "content", chunk)
    if isinstance(content, str):
        return content
    # Some providers stream a list of content blocks.
    return "".join(b.get("text", "") if isinstance(b, dict) else str(b) for b in content or [])


def _status(exc: BaseException) -> int | None:
    for holder in (exc, getattr(exc, "response", None)):
        status = getattr(holder, "status_code", None)
        if isinstance(status, int):
            return status
    return None


def retryable(exc: BaseException) -> bool:
    """A timeout, a lost connection, a 429 or a server error: worth another try."""
    status = _status(exc)
    if status is not None:
        return status in (408, 409, 429) or status >= 500
    name = type(exc).__name__
    return isinstance(exc, TimeoutError | ConnectionError) or "Timeout" in name or "Connect" in name


def _retry_after(exc: BaseException) -> float | None:
    headers = getattr(getattr(exc, "response", None), "headers", None) or {}
    try:
        return float(headers.get("retry-after") or "")
    except (TypeError, ValueError):
        return None


class ModelFailed(Exception):
    """The model could not be reached, or failed, after the retries."""


# -- the writer ---------------------------------------------------------------------------
class Writer:
    """Writes the answer with a chat model; every sentence verified before it is passed on."""

    max_backoff_s = 10.0

    def __init__(
        self,
        model: BaseChatModel,
        verifier: Verifier,
        name: str,
        retries: int = 2,
        backoff_s: float = 1.0,
    ) -> None:
        self.model = model
        self.verifier = verifier
        self.name = name  # "provider:model", for logs: never a key
        self.retries = retries
        self.backoff_s = backoff_s

    @classmethod
    def from_settings(cls, settings: Settings, encode: Encode) -> Writer:
        """The writer BRIEFBOT_LLM names, its verifier with the judge BRIEFBOT_LLM_JUDGE
        names (retrieval/answering/judge.py)."""
        from retrieval.answering.judge import ModelJudge

        model = make_chat_model(settings)
        judge = ModelJudge.from_settings(settings, model)
        return cls(model, Verifier(encode, judge=judge), settings.llm, settings.llm_retries)

    def __repr__(self) -> str:  # never show the model's client, which holds the key
        return f"Writer({self.name!r})"

    def write(
        self,
        answer: Answer,
        passages: list[Passage],
        asked_on: date,
        on_sentence: OnSentence | None = None,
    ) -> Answer:
        """The answer in the model's words, the sentences that passed; else the extractive
        answer (with a notice why, when the model failed or nothing it wrote held up)."""
        if answer.abstained or not answer.citations:
            return answer
        by_n = {p.n: p for p in passages}
        prompt = messages(answer.question, passages, asked_on)
        kept: list[str] = []
        dropped: list[str] = []

        def take(sentence: str) -> None:
            verdict = self.verifier.check(sentence, by_n, question=answer.question)
            if verdict.kept:
                kept.append(sentence)
                if on_sentence is not None:
                    on_sentence(sentence)
            else:
                dropped.append(sentence)
                log.info("dropped a generated sentence: %s", verdict.reason)

        try:
            reply = self._stream(prompt, take, lambda: bool(kept or dropped))
        except ModelFailed:
            if not kept:
                return replace(answer, notice=prompts.load("llm_unavailable"))
            reply = ""  # what was shown stands; the rest of the reply never came
            dropped.append("(the rest of the reply)")
        if not kept:
            if reply.strip().startswith(prompts.load("abstain")[:40]):
                return answer  # the model found no answer: the passages speak for themselves
            notice = prompts.load("llm_unchecked")
            return replace(answer, notice=notice, sentences_dropped=len(dropped))
        notice = ""
        if dropped:
            n = len(dropped)
            what = "one sentence" if n == 1 else f"{n} sentences"
            notice = prompts.render("llm_left_out", what=what)
        return replace(
            answer,
            answer=" ".join(kept),
            notice=notice,
            sentences_kept=len(kept),
            sentences_dropped=len(dropped),
        )

    def _stream(
        self, prompt: list[BaseMessage], take: OnSentence, started: Callable[[], bool]
    ) -> str:
        """Stream the reply, handing each complete sentence to `take`; returns the reply. A
        failure before any sentence was taken is tried again up to `retries` times."""
        for attempt in range(self.retries + 1):
            text, done = "", 0
            try:
                for chunk in self.model.stream(prompt):
                    text += _text_of(chunk)
                    complete = split_sentences(text, final=False)
                    for sentence in complete[done:]:
                        take(sentence)
                    done = max(done, len(complete))
                for sentence in split_sentences(text, final=True)[done:]:
                    take(sentence)
                return text
            except Exception as exc:
                status = _status(exc)
                log.warning(
                    "the chat model %s failed (%s%s), attempt %d of %d",
                    self.name,
                    type(exc).__name__,
                    f", HTTP {status}" if status else "",
                    attempt + 1,
                    self.retries + 1,
                )
                if started() or not retryable(exc) or attempt == self.retries:
                    raise ModelFailed() from None
                pause = _retry_after(exc)
                if pause is None:
                    pause = self.backoff_s * 2**attempt
                time.sleep(min(pause, self.max_backoff_s))
        raise ModelFailed()  # not reached: the last attempt returns or raises
