"""Articles of a followed story, written for the follow tests: a trial over several days
(opening, plea, verdict), the verdict from three outlets in their own words and a correction,
a strike, a resignation in two outlets' words, unrelated stories, and a story that names the
trial in one line. Shared by tests/test_follow.py and the platforms' end-to-end follow tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from retrieval.models import Article


def _article(aid: str, title: str, text: str, day: date, source: str) -> Article:
    return Article(aid, title, text, day, source, f"https://{source.split()[0].lower()}.test/{aid}")


HARBOUR = _article(
    "harbour",
    "Harbour council approves pier repairs",
    "The harbour council approved repairs to the old pier on Monday. The work will cost the "
    "town two million pounds and take a year. Fishermen welcomed the decision.",
    date(2022, 6, 27),
    "Coast Times",
)
TRIAL_OPENS = _article(
    "trial-1",
    "Griner trial opens in Moscow",
    "The trial of American basketball star Brittney Griner opened in a court near Moscow on "
    "Friday. Griner is charged with smuggling cannabis oil into Russia in her luggage. She faces "
    "up to ten years in prison if convicted. The hearing was adjourned until next week.",
    date(2022, 7, 1),
    "Wire Daily",
)
PLEA = _article(
    "trial-2",
    "Griner pleads guilty at drug trial",
    "Brittney Griner pleaded guilty to drug charges at her trial in Russia on Thursday. The "
    "basketball player told the court she had packed the cannabis oil by accident while in a "
    "hurry. Her lawyers hope the plea will lead to a lighter sentence.",
    date(2022, 7, 7),
    "Wire Daily",
)
VERDICT = _article(
    "verdict-a",
    "Griner sentenced to nine years",
    "A Russian court sentenced Brittney Griner to nine years in prison on Thursday for drug "
    "smuggling. The judge said the basketball star had committed the crime deliberately. "
    "President Biden called the sentence unacceptable.",
    date(2022, 8, 4),
    "Wire Daily",
)
# The same event from two other outlets, in their own words. (The Herald's headline names the
# trial: with "Brittney Griner gets nine-year sentence" the article scored 0.49 to 0.51 for
# "Griner trial", at the follow threshold of 0.5, and these tests are about folding.)
VERDICT_HERALD = _article(
    "verdict-b",
    "Griner trial: Brittney Griner gets nine-year sentence",
    "Brittney Griner was sentenced by a Russian court to nine years in prison for drug "
    "smuggling on Thursday. The judge ruled that the basketball star had acted deliberately. "
    "The White House said the sentence was unacceptable.",
    date(2022, 8, 4),
    "Global Herald",
)
VERDICT_POST = _article(
    "verdict-c",
    "Court jails Griner for nine years",
    "A Russian court sentenced Brittney Griner to nine years in prison for drug smuggling on "
    "Thursday. The basketball star's lawyers said they would appeal.",
    date(2022, 8, 5),
    "Evening Post",
)
# Wire Daily corrects its report: the sentence came with a fine.
VERDICT_CORRECTED = replace(
    VERDICT,
    text=VERDICT.text.replace(
        "nine years in prison on Thursday",
        "nine years in prison and a fine of one million roubles on Thursday",
    ),
)
STRIKE = _article(
    "strike-1",
    "Rail workers strike across Britain",
    "Tens of thousands of rail workers walked out across Britain on Tuesday in the biggest rail "
    "strike in thirty years. Most trains were cancelled and stations stood empty. The union "
    "said its members wanted a pay rise that kept up with inflation.",
    date(2022, 6, 21),
    "Wire Daily",
)
FROG = _article(
    "frog-1",
    "New frog species found in Peru",
    "Scientists have discovered a new species of tree frog in the cloud forests of northern "
    "Peru. The tiny frog is bright green and sings at night. Researchers said the forest is "
    "threatened by logging.",
    date(2022, 7, 2),
    "Nature Weekly",
)


# One event (the prime minister resigns) in two outlets' own words: their leads share few words.
RESIGNS = _article(
    "resigns-a",
    "Boris Johnson resigns as prime minister",
    "Boris Johnson resigned as leader of the Conservative Party on Thursday after dozens of "
    "ministers quit his government in protest. He will stay on as prime minister until a "
    "successor is chosen over the summer.",
    date(2022, 7, 7),
    "Wire Daily",
)
STEPS_DOWN = _article(
    "resigns-b",
    "Boris Johnson quits after cabinet revolt",
    "British Prime Minister Boris Johnson announced on Thursday that he would step down, bowing "
    "to a revolt in which more than fifty officials walked out of his cabinet. A new Tory leader "
    "will take over in the autumn.",
    date(2022, 7, 7),
    "Global Herald",
)
# A harbour story that names the topic in one line, far from its opening.
HARBOUR_MENTION = _article(
    "harbour-2",
    "Harbour pier repairs begin as fishermen return",
    "Work began on the old pier in the harbour on Monday, watched by a crowd of fishermen and "
    "their families. The council said the repairs would take a year and cost two million "
    "pounds. Local boat builders expect more orders once the pier reopens next summer. The "
    "harbour master said boats would moor at the north wall meanwhile. The town's cafes hope "
    "for more visitors. In Moscow, the trial of American basketball star Brittney Griner was "
    "adjourned until next week, her lawyers said on Monday. Griner is charged with smuggling "
    "cannabis oil into Russia.",
    date(2022, 7, 4),
    "Coast Times",
)
