"""Article loaders: the real seed, each file type, encodings, and every refusal naming its file."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from datetime import date
from pathlib import Path

import pytest

from retrieval.errors import LoadError
from retrieval.intake.articles import load_path
from retrieval.intake.files import SUPPORTED_SUFFIXES, iter_paths
from retrieval.intake.pagetext import normalize_text

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "seeds" / "000_0070773c25b31aea.txt"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "articles"


def write(path: Path, content: str | bytes) -> Path:
    """Write text (UTF-8) or bytes to `path` and return it."""
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


def load_one(path: Path):
    articles = load_path(path)
    assert len(articles) == 1
    return articles[0]


def jsonl(*records: dict) -> str:
    return "\n".join(json.dumps(r) for r in records) + "\n"


RECORD = {
    "id": "5b14cd16b6feede5",
    "url": "https://news.example/2022/06/12/squid-game",
    "title": "'Squid Game': Netflix green lights season 2",
    "published": "2022-06-12",
    "authors": ["Ramishah Maruf"],
    "text": "Netflix renewed the show.\r\n\r\n\r\nA second season is coming.  ",
}


# --- the real seed -------------------------------------------------------------------------


def test_seed_title_date_and_metadata():
    article = load_one(SEED)
    assert article.title == (
        "U.K. Defense Official Says Russia Assures They Will 'Not Invade Ukraine'"
    )
    assert article.published == date(2022, 2, 11)
    assert article.id == "000_0070773c25b31aea"
    assert (article.source, article.url, article.authors) == ("", "", ())


def test_seed_text_keeps_the_story():
    text = load_one(SEED).text
    assert "would not invade Ukraine" in text
    assert "130,000" in text
    assert text.startswith("United Kingdom Defence Secretary Ben Wallace says")
    assert text.endswith(
        '"the Russian military, as of this week, has all the military '
        'capabilities to actually conduct a large-scale invasion."'
    )
    assert "\n\n" in text and "\n\n\n" not in text


@pytest.mark.parametrize(
    "boilerplate",
    [
        "Voice is AI-generated",
        "Leon Neal/Getty Images",
        "Ben Wallace, Russia, Assurances",
        "About the writer",
        "Update 02/11/22",
        "This story was updated",
        "U.K. Defense Official Says",  # the title is not repeated in the text
    ],
)
def test_seed_boilerplate_is_gone(boilerplate):
    assert boilerplate not in load_one(SEED).text


def test_boilerplate_rules_are_general(tmp_path):
    path = write(
        tmp_path / "story.txt",
        "Floods close the ring road\n\n"
        "🎙️ Voice is AI-generated. Inconsistencies may occur.\n\n"
        "Heavy rain closed the ring road on Monday.\n\n"
        "Floods, Ring Road, Weather, Traffic Chaos\n"
        "Water covers a junction near the airport on Monday. Jane Doe/AP\n\n"
        "Residents were told to stay at home.\n\n"
        "Updated 3/7/2023 9:00 a.m. ET: This story adds a quote.\n\n"
        "About the author\n\nJohn Roe covers the city.\n",
    )
    article = load_one(path)
    assert article.text == (
        "Heavy rain closed the ring road on Monday.\n\nResidents were told to stay at home."
    )
    assert article.published == date(2023, 3, 7)


def test_prose_with_commas_and_slashes_is_kept(tmp_path):
    kept = [
        "Paris, London and Berlin agreed, the ministers said.",
        "The survey was run by ABC News/Ipsos.",
        "A poll by ABC News/Washington Post found that most voters agree.",
    ]
    path = write(tmp_path / "prose.txt", "Title\n\n" + "\n\n".join(kept))
    assert load_one(path).text == "\n\n".join(kept)


# --- markdown, jsonl, html -----------------------------------------------------------------


def test_markdown_front_matter():
    article = load_one(FIXTURES / "council-budget.md")
    assert article.title == "Council approves a smaller budget"
    assert article.published == date(2023, 3, 14)
    assert article.source == "The Daily Tide"
    assert article.url == "https://dailytide.example/news/2023/03/council-budget"
    assert article.authors == ("Maria Okafor", "Tom Reyes")
    assert article.id == hashlib.sha1(article.url.encode()).hexdigest()[:16]
    assert article.text.startswith("The city council approved")  # heading not repeated
    assert article.text.endswith("two swimming pools will close in winter.")


def test_markdown_explicit_id_date_field_and_author_string(tmp_path):
    path = write(
        tmp_path / "note.md",
        "---\nid: note-1\ndate: 2024-01-02T10:00:00Z\nauthor: Ann Lee; Bo Kim\n---\n"
        "# Heading as title\n\nBody text.\n",
    )
    article = load_one(path)
    assert (article.id, article.title, article.text) == ("note-1", "Heading as title", "Body text.")
    assert article.published == date(2024, 1, 2)
    assert article.authors == ("Ann Lee", "Bo Kim")


def test_markdown_bad_date_names_file_and_field(tmp_path):
    path = write(tmp_path / "baddate.md", "---\npublished: last Tuesday\n---\nTitle\n\nText.\n")
    with pytest.raises(LoadError, match="baddate.md") as info:
        load_path(path)
    assert "published" in str(info.value)


@pytest.mark.parametrize("name", ["corpus.jsonl", "corpus.jsonl.gz"])
def test_jsonl_fields_map_directly(tmp_path, name):
    untitled = {"url": "https://news.example/b", "title": "", "text": "Second story."}
    data = jsonl(RECORD, untitled).encode()
    path = write(tmp_path / name, gzip.compress(data) if name.endswith(".gz") else data)
    first, second = load_path(path)
    assert first.id == "5b14cd16b6feede5"
    assert first.title == RECORD["title"]
    assert first.url == RECORD["url"]
    assert first.published == date(2022, 6, 12)
    assert first.authors == ("Ramishah Maruf",)
    assert first.text == "Netflix renewed the show.\n\nA second season is coming."
    assert second.title == ""
    assert second.id == hashlib.sha1(b"https://news.example/b").hexdigest()[:16]


def test_jsonl_bad_line_names_file_and_line(tmp_path):
    path = write(tmp_path / "broken.jsonl", jsonl(RECORD) + "\n{not json}\n")
    with pytest.raises(LoadError, match=r"broken\.jsonl:3"):
        load_path(path)


def test_jsonl_bad_line_can_be_skipped(tmp_path):
    path = write(tmp_path / "mixed.jsonl", jsonl(RECORD, {"title": "no text"}, RECORD))
    errors: list[LoadError] = []
    articles = load_path(path, on_error=errors.append)
    assert len(articles) == 2
    assert len(errors) == 1 and "mixed.jsonl:2" in str(errors[0])


def test_jsonl_bad_date_names_line_and_field(tmp_path):
    path = write(tmp_path / "dates.jsonl", jsonl({**RECORD, "published": "June 12"}))
    with pytest.raises(LoadError, match=r"dates\.jsonl:1: .*published"):
        load_path(path)


def test_html_main_text_and_metadata():
    article = load_one(FIXTURES / "harbour-bridge.html")
    assert article.title == "Harbour bridge reopens after repairs"
    assert article.published == date(2023, 5, 4)
    assert article.source == "The Daily Tide"
    assert article.url == "https://dailytide.example/news/2023/05/harbour-bridge-reopens"
    assert article.authors == ("Maria Okafor",)
    assert article.text.startswith("The Harbour Bridge reopened to traffic")
    assert "Buses will return to the bridge from Monday" in article.text
    assert article.text.count("\n\n") == 3
    for junk in ("Subscribe now", "cookies", "Most read", "Local team", "Privacy policy", "©"):
        assert junk not in article.text


# --- encodings and normalisation -----------------------------------------------------------


def test_utf8_bom(tmp_path):
    path = write(tmp_path / "bom.txt", b"\xef\xbb\xbfTitle \xe2\x80\x94 dash\r\n\r\nBody.\r\n")
    article = load_one(path)
    assert (article.title, article.text) == ("Title \u2014 dash", "Body.")


def test_cp1252_fallback(tmp_path):
    path = write(tmp_path / "ansi.txt", b"Headline\r\n\r\nShe said \x93quoted\x94 \x96 twice.\r\n")
    assert load_one(path).text == "She said \u201cquoted\u201d \u2013 twice."


def test_normalize_text_only_touches_whitespace():
    raw = "  a  \r\nb\t\n\n\n\n\u00e9 \u201cq\u201d\n"
    assert normalize_text(raw) == "a\nb\n\n\u00e9 \u201cq\u201d"


# --- refusals name the file ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("binary.txt", b"Title\n\x00\x01\x02\x03", "binary"),
        ("empty.txt", b"", "empty"),
        ("blank.md", b"  \n\t\r\n", "empty"),
        ("only-title.txt", b"Just a title\n", "no text"),
        ("front-only.md", b"---\ntitle: T\n---\n", "no text"),
        ("notes.docx", b"PK\x03\x04", ".jsonl.gz"),
        ("bad.jsonl.gz", b"not gzip", "gzip"),
    ],
)
def test_refusals_name_the_file(tmp_path, name, content, reason):
    path = write(tmp_path / name, content)
    with pytest.raises(LoadError) as info:
        load_path(path)
    assert name in str(info.value)
    assert reason in str(info.value)


def test_unknown_suffix_lists_supported_types(tmp_path):
    path = write(tmp_path / "page.pdf", b"%PDF-1.7")
    with pytest.raises(LoadError, match="page.pdf") as info:
        load_path(path)
    assert all(suffix in str(info.value) for suffix in SUPPORTED_SUFFIXES)


def test_folder_passed_as_file(tmp_path):
    folder = tmp_path / "looks-like.txt"
    folder.mkdir()
    with pytest.raises(LoadError, match="looks-like.txt"):
        load_path(folder)


def test_unreadable_file(tmp_path):
    path = write(tmp_path / "secret.txt", "Title\n\nText.\n")
    path.chmod(0)
    root = os.geteuid() == 0
    if root:  # root reads anything: read as an unprivileged user, then take root back
        tmp_path.chmod(0o755)
        os.seteuid(65534)
    try:
        with pytest.raises(LoadError, match="secret.txt: permission denied"):
            load_path(path)
    finally:
        if root:
            os.seteuid(0)
        path.chmod(0o600)


# --- paths ---------------------------------------------------------------------------------


def test_iter_paths_expands_folders(tmp_path):
    for rel in ["b.txt", "a.md", "sub/c.jsonl", "sub/d.jsonl.gz", "sub/e.HTML", "z.htm"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        write(tmp_path / rel, "x")
    for rel in ["notes.pdf", ".hidden.txt", ".git/f.txt", "sub/.cache/g.md"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        write(tmp_path / rel, "x")
    explicit = write(tmp_path / "explicit.pdf", "x")
    found = list(iter_paths([tmp_path, str(explicit)]))
    names = [p.relative_to(tmp_path).as_posix() for p in found]
    assert names == [
        "a.md",
        "b.txt",
        "sub/c.jsonl",
        "sub/d.jsonl.gz",
        "sub/e.HTML",
        "z.htm",
        "explicit.pdf",  # named explicitly: load_path will say why it is refused
    ]


def test_iter_paths_missing_path(tmp_path):
    with pytest.raises(LoadError, match="nowhere.txt"):
        list(iter_paths([tmp_path / "nowhere.txt"]))


def test_load_path_missing_file(tmp_path):
    with pytest.raises(LoadError, match="gone.md"):
        load_path(tmp_path / "gone.md")


# --- hostile and malformed input -----------------------------------------------------------


def test_impossible_front_matter_date_names_file_field_and_line(tmp_path):
    path = write(
        tmp_path / "feb30.md", "---\ntitle: T\npublished: 2023-02-30\n---\nA story in a line.\n"
    )
    with pytest.raises(LoadError) as info:
        load_path(path)
    assert str(info.value).startswith(f"{path}:3: field 'published'")
    assert "2023-02-30" in str(info.value)


def test_front_matter_dates_still_parse_as_dates(tmp_path):
    path = write(tmp_path / "ok.md", "---\npublished: 2023-02-28\n---\nTitle\n\nText.\n")
    assert load_one(path).published == date(2023, 2, 28)


def test_bad_file_in_a_folder_is_reported_and_the_rest_goes_on(tmp_path):
    from retrieval.intake.ingest import IngestReport, load_articles

    write(tmp_path / "a-bad.md", "---\npublished: 2023-02-30\n---\nTitle\n\nText.\n")
    write(tmp_path / "b-good.txt", "A good title\n\nA good story.\n")
    report = IngestReport()
    articles = load_articles([tmp_path], report)
    assert [a.id for a in articles] == ["b-good"]
    assert len(report.failures) == 1 and "a-bad.md:2" in report.failures[0]


def test_unclosed_front_matter_is_reported(tmp_path):
    path = write(tmp_path / "open.md", "---\ntitle: T\npublished: 2023-02-03\n\nThe story.\n")
    with pytest.raises(LoadError, match=r"open\.md:1: front matter .* never closed"):
        load_path(path)


def test_front_matter_yaml_error_keeps_its_line(tmp_path):
    path = write(tmp_path / "bad.md", "---\ntitle: T\nsource: [unclosed\n---\nTitle\n\nText.\n")
    with pytest.raises(LoadError, match=r"bad\.md:\d+: front matter is not valid YAML"):
        load_path(path)


def test_html_page_without_an_article_is_refused(tmp_path):
    page = (
        "<html><head><title>Sign in</title></head><body><nav><a href='/'>Home</a> / "
        "<a href='/login'>Log in</a> / <a>Sign in</a></nav><form><input name=u>"
        "<input name=p type=password><button>Sign in</button></form></body></html>"
    )
    path = write(tmp_path / "login.html", page)
    with pytest.raises(LoadError, match=r"login\.html: no article text found") as info:
        load_path(path)
    assert "Log in" in str(info.value)


def test_oversized_article_file_is_refused_unread(tmp_path):
    path = write(tmp_path / "huge.txt", "Title\n\n" + "word " * 1000)
    with pytest.raises(LoadError, match="BRIEFBOT_MAX_ARTICLE_MB") as info:
        load_path(path, max_bytes=1000)
    assert "huge.txt" in str(info.value)
    assert load_path(path, max_bytes=10_000)[0].title == "Title"


@pytest.mark.parametrize("name", ["big.jsonl", "big.jsonl.gz"])
def test_oversized_jsonl_line_is_refused_and_the_others_kept(tmp_path, name):
    big = {**RECORD, "id": "big", "text": "x " * 5000}
    small = {**RECORD, "id": "small"}
    data = jsonl(small, big, small | {"id": "after"}).encode()
    path = write(tmp_path / name, gzip.compress(data) if name.endswith(".gz") else data)
    errors: list[LoadError] = []
    articles = load_path(path, on_error=errors.append, max_bytes=2000)
    assert [a.id for a in articles] == ["small", "after"]
    assert len(errors) == 1 and f"{name}:2:" in str(errors[0])


def test_settings_name_the_article_limit(monkeypatch):
    from retrieval.config import load_settings

    monkeypatch.setenv("BRIEFBOT_MAX_ARTICLE_MB", "0.5")
    assert load_settings().max_article_bytes == 512 * 1024


# --- page furniture: lines of the page around an article -----------------------------------

PAGE_LINES = [
    (
        "JUST WATCHED Storm hits the coast Replay More Videos ... MUST WATCH Storm hits the "
        "coast 02:46",
        "video promo",
    ),
    (
        "Photos: A week in pictures A child waves a flag in Kyiv. Hide Caption 13 of 29",
        "photo gallery",
    ),
    ("Hide Caption 3 of 30 Photos: Fire season The sky glows red over the ridge.", "photo gallery"),
    ("A firefighter walks past a burning home on Friday. Jane Doe/Getty Images", "photo credit"),
    (
        "Jane Doe/AP Protesters gather outside the court on Friday. In pictures: A day of protest",
        "photo gallery",
    ),
    ("Jane Doe/AP Protesters gather outside the court in Washington on Friday.", "credited photo"),
    (
        "Sayed Khodaiberdi Sadat/Anadolu Agency/Getty Images A man sits on the debris of a "
        "building after an earthquake in Paktika, Afghanistan on June 22.",
        "credited photo",
    ),
    (
        "Fans celebrate the victory at the stadium on Sunday, July 31. Photos: A night to remember",
        "photo gallery",
    ),
    ("A bridge was washed out by the river. National Park Service/AP", "photo credit"),
    (
        "WASHINGTON, DC - JANUARY 26: The court building on the day it was reported on January "
        "26, 2022 in Washington, DC.",
        "wire photo caption",
    ),
    (
        "A version of this story appeared in CNN's Meanwhile in China newsletter. Sign up here",
        "newsletter promo",
    ),
    ("Get a politics roundup in your inbox:Sign up for OnPolitics newsletter", "newsletter promo"),
    ("More:Students look forward to next year at the high school", "link headline"),
    ("READ MORE: Why the storm surge was so high", "link headline"),
    ("Read More", "link headline"),
    ("Contributing: The Associated Press", "credits"),
    ("___", "ornament"),
]
PROSE_LINES = [
    "More than 100 people were evacuated on Tuesday, officials said.",
    "More to come from the author: a fourth novel is planned for next year.",
    "She said readers who subscribe to the paper pay less than they did last year.",
    "Photographers gathered outside the court at 9:30.",
    "The vote was 52-48, with two senators absent.",
    "WASHINGTON (AP) — The Senate passed the bill on Sunday.",
]


@pytest.mark.parametrize(("line", "kind"), PAGE_LINES)
def test_page_lines_are_known_by_their_kind(line, kind):
    from retrieval.intake.pagetext import page_line_kind

    assert page_line_kind(line) == kind


@pytest.mark.parametrize("line", PROSE_LINES)
def test_prose_is_not_taken_for_page_lines(line):
    from retrieval.intake.pagetext import page_line_kind

    assert page_line_kind(line) is None


def test_page_lines_are_removed_from_every_kind_of_article(tmp_path):
    body = "\n\n".join([PAGE_LINES[0][0], "The storm hit the coast on Tuesday.", PAGE_LINES[6][0]])
    txt = load_one(write(tmp_path / "a.txt", "Storm\n\n" + body))
    line = load_path(write(tmp_path / "a.jsonl", jsonl({**RECORD, "text": body})))[0]
    assert txt.text == line.text == "The storm hit the coast on Tuesday."


def test_an_article_that_is_only_page_furniture_is_refused(tmp_path):
    path = write(tmp_path / "gallery.jsonl", jsonl({**RECORD, "text": PAGE_LINES[1][0]}))
    with pytest.raises(LoadError, match=r"gallery\.jsonl:1: article has no text"):
        load_path(path)
