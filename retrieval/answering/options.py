"""How the answerer composes: its options, and the named steps beside its learned scores
(each switchable, with what it catches and the data it was fitted on)."""

from __future__ import annotations

from dataclasses import dataclass

from retrieval.errors import SettingsError


@dataclass(frozen=True)
class ComposeOptions:
    max_citations: int = 5
    min_relevance: float = 0.0  # a floor on the best cited passage's cosine (Settings)
    max_articles: int = 4
    chunks_per_article: int = 4
    keep_ratio: float = 0.4  # keep sentences scoring at least this share of the best
    min_overlap: float = 0.20  # share of the question's term weight a cited sentence must hold
    speaker_topic: float = 0.4  # share of the subject's term weight a speaker's article holds
    lead_sentences: int = 2  # nonzero: the best article's first chunk (its lead) is read too
    steps: frozenset[str] = frozenset(
        (
            "learned_gate",
            "outcome",
            "needs_context",
            "unknown_speaker",
            "role_words",
            "article_rerank",
        )
    )  # the named steps that run


# Every rule left beside the learned scores is a named step that can be switched off
# (ComposeOptions.steps); bench/answers.py --ablate reports each one's effect on the held-out
# split. name -> what it catches, and the data it was fitted on.
STEPS: dict[str, str] = {
    "needs_context": "declines a question that points back ('what did they agree on?', 'who won "
    "it') with at most one word of its own subject, asked with no earlier question: a follow-up "
    "outside its thread; written on the seed questions' follow-ups",
    "learned_gate": "declines when the answerability score (learned.py) is under its threshold; "
    "trained on the train splits (bench/train_answerer.py), threshold chosen on their "
    "cross-validated scores",
    "outcome": "declines a question about how something turned out when the answer would lead "
    "with a preview of it (outcome.py); written on the dev weeks' chat set",
    "off_subject": "declines a short question (at most 4 subject words) whose subject no cited "
    "sentence with its title holds 0.4 of; written on the dev weeks' chat set",
    "article_rerank": "orders the first 20 retrieved articles by the article score (rerank.py): "
    "whether the headline and opening hold the question's subject, by word and by meaning, "
    "with the fused order's own evidence; trained on the train splits' gold articles",
    "unknown_speaker": "declines a question for the words of a person (by name, not by role) "
    "whom none of the articles found names ('what did tedros say about the polio case' when no "
    "article found names Tedros); written on the team and chat train splits",
    "role_words": "asked for the words of a role or an organisation nobody the articles name "
    "('the minister', \"argentina's president\", \"atlantic gate's ceo\"), cites the words of "
    "whoever the articles give that role (before the name or in an appositive after it), and "
    "declines when nobody in it is quoted; written on the team train split",
    "speaker_topic": "cites a person's words only from articles holding 0.4 of the question's "
    "subject; written on the dev weeks' chat set",
}


def answer_steps(names: str) -> frozenset[str]:
    """The steps named in BRIEFBOT_ANSWER_STEPS (comma-separated); an unknown name is refused."""
    steps = frozenset(n.strip() for n in names.split(",") if n.strip())
    if unknown := sorted(steps - set(STEPS)):
        raise SettingsError(
            f"BRIEFBOT_ANSWER_STEPS: unknown step {', '.join(unknown)}; "
            f"the steps are {', '.join(STEPS)}"
        )
    return steps
