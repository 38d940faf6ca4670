"""Search on SQLite and PostgreSQL: the same items for the same query, dates in order, marked snippets, streaming."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

import pytest
from sqlalchemy import func

import aggregator.search.plan as plan
from aggregator.models import Item, Sighting, Story
from aggregator.search.highlight import MARK_END, MARK_START, highlight, snippet
from aggregator.search.hits import iter_matches, matching, prepare, search
from aggregator.search.query import QueryError, parse, positive_texts
from aggregator.store.database import Database
from tests.digestdata import add_item, add_source, utc


@dataclass(frozen=True)
class Doc:
    key: str
    source: str
    title: str
    text: str
    published: datetime | None
    lang: str = "en"
    tags: dict[str, float] = field(default_factory=dict)
    story: str | None = None
    seen_by: tuple[str, ...] = ()


SOURCES = {
    "insightcrime-en": ("research", "en"),
    "insightcrime-es": ("research", "es"),
    "borderwire": ("news", "en"),
    "cronica": ("news", "es"),
    "govpress": ("government", "en"),
    "blogger": ("blog", "en"),
}

# Inserted in this order, so ids follow it. The first is dated after all the others: an old id with the newest
# date, which the "newest first" shortcut must not miss.
CORPUS = [
    Doc("backdated", "blogger", "Backdated post", "A cartel story the feed dated late.", utc(2025, 6, 1)),
    Doc("sinaloa-es", "cronica", "El Cártel de Sinaloa amplía su red",
        "Operadores del cártel trasladan fentanilo por Culiacán.", utc(2024, 3, 1), "es", {"cartels": 0.95}, "A"),
    Doc("sinaloa-en", "borderwire", "Sinaloa Cartel expands its network",
        "Cartel operatives move fentanyl through Culiacán, officials said.", utc(2024, 3, 1, 10), "en",
        {"cartels": 0.9}, "A"),
    Doc("guardia", "cronica", "La Guardia Nacional llega a Sonora",
        "Elementos de la Guardia Nacional patrullan la frontera.", utc(2024, 4, 10), "es", {"border_security": 0.7}),
    Doc("national-guard", "borderwire", "National Guard deploys to the border",
        "Guard troops patrol the border near Nogales.", utc(2024, 4, 11), "en", {"border_security": 0.8}),
    Doc("extradition", "govpress", "Extradition of cartel leader approved",
        "The court approved the extradition of a CJNG leader.", utc(2024, 5, 20), "en", {"cartels": 0.85}, "B"),
    Doc("extraditado", "cronica", "Extraditan a líder del CJNG", "El líder fue extraditado a Estados Unidos.",
        utc(2024, 5, 21), "es", {"cartels": 0.88}, "B"),
    Doc("designation", "govpress", "State Department designates cartels as terrorist organizations",
        "Six cartels were designated foreign terrorist organizations.", utc(2025, 2, 20), "en",
        {"cartels": 0.7, "terrorism": 0.9, "nexus": 0.75}),
    Doc("narcoterrorismo", "insightcrime-es", "Narcoterrorismo: el debate sobre los cárteles",
        "Analistas discuten si los cárteles son terroristas.", utc(2025, 2, 25), "es",
        {"terrorism": 0.6, "cartels": 0.65}),
    Doc("extortion", "insightcrime-en", "Research report on extortion in Michoacán",
        "Extortion networks target avocado growers in Michoacán.", utc(2024, 8, 1), "en", {"cartels": 0.55}),
    Doc("weather", "blogger", "Sunny weekend in Tucson", "Nothing about crime here, just weather and tacos.",
        utc(2024, 6, 1)),
    Doc("tunnel", "borderwire", "Tunnel found under Otay Mesa warehouse",
        "Agents found a tunnel linking Tijuana and Otay Mesa.", utc(2024, 9, 15), "en",
        {"border_security": 0.9, "cartels": 0.6}),
    Doc("tunel", "cronica", "Hallan túnel en Tijuana", "Un túnel conectaba una bodega de Tijuana con Otay Mesa.",
        utc(2024, 9, 16), "es", {"border_security": 0.85}),
    Doc("accion", "cronica", "Acción policiaca en Michoacán", "La acción dejó tres detenidos en Apatzingán.",
        utc(2024, 10, 1), "es"),
    # The title ends with "cartel" and the text starts with "Sinaloa": no phrase "cartel sinaloa" on either backend.
    Doc("two-fields", "borderwire", "Officials blame the cartel", "Sinaloa authorities disagree.",
        utc(2024, 10, 5)),
    Doc("bloqueos", "cronica", "Narco-bloqueos en Guanajuato", "Los narco-bloqueos paralizaron la ciudad.",
        utc(2024, 11, 1), "es"),
    # No publication date: dated by its first sighting, the last half hour of 2024.
    Doc("undated", "blogger", "Blog post without a date", "Cartel violence commentary.", None),
    Doc("new-year", "borderwire", "New year seizure", "Fentanyl seized at the port.", utc(2025, 1, 1)),
    Doc("last-second", "borderwire", "Last seizure of the year", "Meth seized at the port.",
        utc(2024, 12, 31, 23, 59, 59)),
    Doc("desert", "blogger", "Smuggling routes in the Sonoran desert", "Smugglers use desert routes.",
        utc(2024, 7, 1), seen_by=("insightcrime-en",)),
    Doc("budget", "govpress", "Cartel budget hearing", "The budget hearing mentions cartel funding.",
        utc(2024, 2, 1), "en", {"cartels": 0.52}),
    Doc("pena", "cronica", "Peña Nieto declara", "El expresidente Peña Nieto habló ante la prensa.",
        utc(2023, 12, 1), "es"),
    Doc("near", "borderwire", "Report: NEAR the border, a new fence", "The fence is near the border crossing.",
        utc(2024, 3, 20)),
    Doc("calendar", "govpress", "Court calendar", "Hearings this week include an extradition request.",
        utc(2024, 5, 22)),
    Doc("migrantes", "cronica", "Migrantes cruzan por Sonora", "Cientos de migrantes cruzan la frontera.",
        utc(2024, 7, 10), "es", {"border_security": 0.65}),
    Doc("migrants", "borderwire", "Migrants cross near Sonora", "Hundreds of migrants cross the border.",
        utc(2024, 7, 11), "en", {"border_security": 0.66}),
    Doc("syntax", "blogger", 'Quotes "and" operators: AND OR NOT title:x ^start',
        "Text with col:on, a star* and a (paren.", utc(2024, 1, 15)),
    Doc("frontera", "cronica", "Refuerzan la frontera norte", "Más agentes en la frontera con Arizona.",
        utc(2024, 8, 20), "es"),
    Doc("wall", "govpress", "Border wall funding", "Congress debates border wall funding.", utc(2024, 8, 21)),
    Doc("accents", "cronica", "Ñandú y pingüino en el zoológico", "Una nota sin relación con el crimen.",
        utc(2024, 2, 14), "es"),
]  # fmt: skip
UNDATED_SEEN = utc(2024, 12, 31, 23, 30)


@dataclass
class Corpus:
    db: Database
    ids: dict[str, int]
    stories: dict[str, int]

    def keys(self, item_ids: Iterator[int] | list[int]) -> list[str]:
        by_id = {v: k for k, v in self.ids.items()}
        return [by_id[i] for i in item_ids]

    def date(self, key: str) -> datetime:
        doc = next(d for d in CORPUS if d.key == key)
        return doc.published or UNDATED_SEEN

    def newest_first(self, keys: set[str]) -> list[str]:
        return sorted(keys, key=lambda k: (self.date(k), self.ids[k]), reverse=True)


@pytest.fixture
def corpus(db: Database) -> Corpus:
    ids: dict[str, int] = {}
    stories: dict[str, int] = {}
    with db.session() as s:
        for source, (tier, language) in SOURCES.items():
            add_source(s, source, tier=tier, language=language)
        for name in ("A", "B"):
            story = Story(title=name, first_seen_at=utc(2024, 1, 1), last_seen_at=utc(2024, 1, 1),
                          updated_at=utc(2024, 1, 1))  # fmt: skip
            s.add(story)
            s.flush()
            stories[name] = story.id
        for doc in CORPUS:
            seen = doc.published or UNDATED_SEEN
            item_id = add_item(
                s, doc.source, doc.title, doc.text, seen=seen, published=doc.published, language=doc.lang,
                tags=doc.tags,
            )  # fmt: skip
            ids[doc.key] = item_id
            for other in doc.seen_by:
                s.add(
                    Sighting(item_id=item_id, source_id=other, guid=f"{other}-{item_id}", url="https://x", seen_at=seen)
                )
            if doc.story:
                item = s.get(Item, item_id)
                assert item is not None
                item.story_id = stories[doc.story]
    return Corpus(db, ids, stories)


CARTEL = {"backdated", "sinaloa-es", "sinaloa-en", "extradition", "two-fields", "undated", "budget"}
ES = {d.key for d in CORPUS if d.lang == "es"}
TAGGED_CARTELS = {d.key for d in CORPUS if "cartels" in d.tags}

EXPECTED: dict[str, set[str]] = {
    # words: whole words, any case, accents folded both ways
    "cartel": CARTEL,
    "cártel": CARTEL,
    "CARTEL": CARTEL,
    "carteles": {"narcoterrorismo"},
    "pena": {"pena"},
    "PEÑA": {"pena"},
    "nandu pinguino": {"accents"},
    "cjng": {"extradition", "extraditado"},
    "michoacan": {"extortion", "accion"},
    "accion": {"accion"},
    "guard": {"national-guard"},
    # phrases, in order and within one field
    '"guardia nacional"': {"guardia"},
    '"national guard"': {"national-guard"},
    '"sinaloa cartel"': {"sinaloa-en"},
    '"cartel sinaloa"': set(),
    '"otay mesa"': {"tunnel", "tunel"},
    '"near the border"': {"near"},
    "narco-bloqueos": {"bloqueos"},
    '"narco bloqueos"': {"bloqueos"},
    "bloqueos": {"bloqueos"},
    # prefixes
    "extradit*": {"extradition", "extraditado", "calendar"},
    "cartel*": CARTEL | {"designation", "narcoterrorismo"},
    '"otay mes"*': {"tunnel", "tunel"},
    "narcoterror*": {"narcoterrorismo"},
    # AND, OR, NOT, -, parentheses
    "cartel sinaloa": {"sinaloa-es", "sinaloa-en", "two-fields"},
    "cartel AND sinaloa": {"sinaloa-es", "sinaloa-en", "two-fields"},
    "fentanyl OR fentanilo": {"sinaloa-es", "sinaloa-en", "new-year"},
    "cartel -sinaloa": {"backdated", "extradition", "undated", "budget"},
    "cartel NOT sinaloa": {"backdated", "extradition", "undated", "budget"},
    'cartel -"sinaloa cartel"': CARTEL - {"sinaloa-en"},
    "(cartel OR túnel) -sinaloa": {"backdated", "extradition", "undated", "budget", "tunel"},
    "cartel (sinaloa OR extradition)": {"sinaloa-es", "sinaloa-en", "two-fields", "extradition"},
    "tijuana -túnel": {"tunnel"},
    "migrants OR migrantes -sonora": {"migrants"},
    "(migrants OR migrantes) sonora": {"migrants", "migrantes"},
    "seized port": {"new-year", "last-second"},
    "cartel OR topic:terrorism": CARTEL | {"designation", "narcoterrorismo"},
    "(border -wall) OR tijuana": {"national-guard", "near", "migrants", "tunnel", "tunel"},
    # hostile text is only words
    "NEAR(border) fence": {"near"},
    "title:x": None,  # an unknown filter: QueryError (checked below)
    '"title x"': {"syntax"},
    "col:on": None,
    '"col on"': {"syntax"},
    "^start": {"syntax"},
    "star* paren": {"syntax"},
    "'; DROP TABLE items; --": set(),
    # topics and score bounds
    "topic:cartels": TAGGED_CARTELS,
    "topic:cartels score>=0.8": {"sinaloa-es", "sinaloa-en", "extradition", "extraditado"},
    "topic:cartels score<0.6": {"extortion", "budget"},
    "topic:cartels score>0.55 score<=0.7": {"designation", "narcoterrorismo", "tunnel"},
    "score>=0.9": {"sinaloa-es", "sinaloa-en", "designation", "tunnel"},
    "topic:terrorism topic:cartels": {"designation", "narcoterrorismo"},
    "topic:nexus OR topic:terrorism": {"designation", "narcoterrorismo"},
    "cartel -topic:cartels": {"backdated", "two-fields", "undated"},
    "-topic:cartels cartel*": {"backdated", "two-fields", "undated"},
    # sources (the item's own, or a sighting) and tiers
    "source:insightcrime-en": {"extortion", "desert"},
    "source:govpress": {"extradition", "designation", "budget", "calendar", "wall"},
    "tier:research": {"narcoterrorismo", "extortion", "desert"},
    "tier:government cartel": {"extradition", "budget"},
    "smuggling -tier:research": set(),
    # languages
    "lang:es": ES,
    "lang:es cartel": {"sinaloa-es"},
    "lang:en cartel": CARTEL - {"sinaloa-es"},
    "-lang:en frontera": {"guardia", "migrantes", "frontera"},
    # dates: inclusive days in UTC, on the publication date or else the first sighting
    "since:2025-01-01": {"backdated", "designation", "narcoterrorismo", "new-year"},
    "since:2025": {"backdated", "designation", "narcoterrorismo", "new-year"},
    "since:2024-12-31 until:2024-12-31": {"undated", "last-second"},
    "until:2023": {"pena"},
    "until:2023-12-01": {"pena"},
    "since:2024-03 until:2024-03 cartel": {"sinaloa-es", "sinaloa-en"},
    "cartel -since:2024-06-01": {"sinaloa-es", "sinaloa-en", "extradition", "budget"},
}


def _story_queries(corpus: Corpus) -> dict[str, set[str]]:
    a, b = corpus.stories["A"], corpus.stories["B"]
    return {
        f"story:{a}": {"sinaloa-es", "sinaloa-en"},
        f"story:{b} -lang:en": {"extraditado"},
        f"cartel -story:{a}": CARTEL - {"sinaloa-es", "sinaloa-en"},
        f"story:{a} OR story:{b}": {"sinaloa-es", "sinaloa-en", "extradition", "extraditado"},
    }


def _everything(corpus: Corpus, text: str, sort: str = "date") -> list[str]:
    with corpus.db.session() as s:
        page = search(s, text, sort=sort, limit=100)  # type: ignore[arg-type]
    assert page.total == len(page.hits) and page.total_exact
    return corpus.keys(h.item_id for h in page.hits)


def test_the_table_of_queries_finds_the_expected_items(corpus: Corpus) -> None:
    table = {q: e for q, e in EXPECTED.items() if e is not None} | _story_queries(corpus)
    wrong = {}
    for text, expected in table.items():
        found = _everything(corpus, text)
        if set(found) != expected:
            wrong[text] = (sorted(found), sorted(expected))
    assert not wrong


@pytest.mark.parametrize("text", [q for q, e in EXPECTED.items() if e is None])
def test_unknown_filters_in_the_table_are_errors(corpus: Corpus, text: str) -> None:
    with corpus.db.session() as s, pytest.raises(QueryError):
        search(s, text)


def test_date_sort_is_newest_first_and_ties_go_to_the_newest_id(corpus: Corpus) -> None:
    for text in ("cartel", "lang:es", "cartel OR topic:terrorism", "tier:research", "since:2024-03 until:2024-03"):
        expected = EXPECTED[text] if text in EXPECTED else {"sinaloa-es", "sinaloa-en", "near"}
        assert _everything(corpus, text, "date") == corpus.newest_first(expected), text


def test_relevance_puts_a_title_match_first(corpus: Corpus) -> None:
    with corpus.db.session() as s:
        page = search(s, "extradition", sort="relevance")
    keys = corpus.keys(h.item_id for h in page.hits)
    assert keys[0] == "extradition" and set(keys) == {"extradition", "calendar"}
    assert page.hits[0].score is not None and page.hits[1].score is not None
    assert page.hits[0].score > page.hits[1].score > 0


def test_relevance_without_words_is_date_order(corpus: Corpus) -> None:
    assert _everything(corpus, "topic:cartels", "relevance") == corpus.newest_first(TAGGED_CARTELS)


def test_hits_carry_item_fields_topics_and_marked_snippets(corpus: Corpus) -> None:
    with corpus.db.session() as s:
        page = search(s, "cártel -topic:nexus lang:es")
    (hit,) = page.hits
    assert hit.item_id == corpus.ids["sinaloa-es"]
    assert hit.title == "El Cártel de Sinaloa amplía su red"
    assert hit.source_id == "cronica" and hit.language == "es"
    assert hit.published_at == utc(2024, 3, 1) and hit.first_seen_at == utc(2024, 3, 1)
    assert hit.story_id == corpus.stories["A"]
    assert hit.topics == {"cartels": 0.95}
    assert hit.snippet == f"Operadores del {MARK_START}cártel{MARK_END} trasladan fentanilo por Culiacán."


def test_snippets_mark_phrases_and_prefixes(corpus: Corpus) -> None:
    with corpus.db.session() as s:
        phrase = search(s, '"otay mesa" tijuana', sort="date").hits[0]
        prefix = search(s, "extradit* cjng", sort="date").hits[0]
    assert phrase.snippet == (
        f"Un túnel conectaba una bodega de {MARK_START}Tijuana{MARK_END} con {MARK_START}Otay Mesa{MARK_END}."
    )
    assert prefix.snippet == f"El líder fue {MARK_START}extraditado{MARK_END} a Estados Unidos."


def test_highlight_escapes_nothing_and_strips_fake_markers() -> None:
    terms = positive_texts(parse('cartel "guardia nacional" extradit* -sinaloa').root)
    text = f"<b>CÁRTEL</b> y la Guardia, Nacional {MARK_START}x{MARK_END}; extraditados. cartels Sinaloa"
    assert highlight(text, terms) == (
        f"<b>{MARK_START}CÁRTEL{MARK_END}</b> y la {MARK_START}Guardia, Nacional{MARK_END} x; "
        f"{MARK_START}extraditados{MARK_END}. cartels Sinaloa"
    )
    long = "palabra " * 100 + "el cártel " + "palabra " * 100
    cut = snippet(["", long], terms, width=60)
    assert cut.startswith("…") and cut.endswith("…") and f"{MARK_START}cártel{MARK_END}" in cut
    assert len(cut.replace(MARK_START, "").replace(MARK_END, "")) <= 62
    assert snippet(["Sin coincidencias aquí."], terms) == "Sin coincidencias aquí."


def test_pages_do_not_overlap(corpus: Corpus) -> None:
    with corpus.db.session() as s:
        for sort in ("date", "relevance"):
            first = search(s, "cartel*", sort=sort, limit=4)  # type: ignore[arg-type]
            second = search(s, "cartel*", sort=sort, limit=4, offset=4)  # type: ignore[arg-type]
            ids = [h.item_id for h in first.hits + second.hits]
            assert len(ids) == len(set(ids)) == 8 and first.total == second.total == len(EXPECTED["cartel*"])


def test_iter_matches_streams_everything_in_order(corpus: Corpus) -> None:
    with corpus.db.session() as s:
        by_date = corpus.keys(h.item_id for h in iter_matches(s, "lang:es", sort="date", batch=2))
        by_id = [h.item_id for h in iter_matches(s, "cartel OR cárteles", sort="id", batch=3)]
        words = corpus.keys(h.item_id for h in iter_matches(s, "cartel", sort="date", batch=4))
    assert by_date == corpus.newest_first(ES)
    assert by_id == sorted(corpus.ids[k] for k in CARTEL | {"narcoterrorismo"})
    assert words == corpus.newest_first(CARTEL)


def test_matching_selects_every_match_for_grouping(corpus: Corpus) -> None:
    with corpus.db.session() as s:
        compiled = prepare(s, parse("cartel lang:en"))
        assert s.scalar(matching(compiled, func.count())) == len(CARTEL) - 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("topc:x", "unknown filter 'topc'"),
        ('cartel "guardia', "unbalanced quote"),
        ("(cartel", "unbalanced '('"),
        ("cartel AND", "'AND' needs something after it"),
        ("-cartel", "only excludes"),
        ("since:2024-02-30", "bad date"),
        ("source:insightcrime", "unknown source 'insightcrime' at column 1 (did you mean: insightcrime-en"),
        ("cartel topic:cartles", "no topic 'cartles' at column 8 (known: border_security, cartels, nexus"),
    ],
)
def test_malformed_queries_raise_query_errors(corpus: Corpus, text: str, message: str) -> None:
    with corpus.db.session() as s, pytest.raises(QueryError) as caught:
        search(s, text)
    assert message in str(caught.value)


def test_hostile_queries_never_reach_the_database_as_errors(corpus: Corpus) -> None:
    alphabet = list("carteltijuana CÁRTEL\"()*-:^~{}[]'\\;%_\x00\u0301") + ["AND ", "OR ", "NOT ", "NEAR(", "lang:es "]
    rng = random.Random(5)
    with corpus.db.session() as s:
        for _ in range(150):
            text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 25)))
            for sort in ("relevance", "date"):
                try:
                    search(s, text, sort=sort)  # type: ignore[arg-type]
                except QueryError:
                    pass


@pytest.fixture
def tiny_caps(monkeypatch: pytest.MonkeyPatch) -> None:
    """Caps small enough for the 30 items to take the paths meant for millions (windows, shortcuts, walks)."""
    monkeypatch.setattr(plan, "COUNT_CAP", 3)
    monkeypatch.setattr(plan, "ESTIMATE_CAP", 4)


@pytest.mark.usefixtures("tiny_caps")
def test_beyond_the_cap_the_total_is_a_lower_bound_and_dates_stay_exact(corpus: Corpus) -> None:
    with corpus.db.session() as s:
        for text in (
            "cartel",
            "cartel lang:en",
            "lang:es",
            "cartel* -sinaloa",
            "topic:cartels",
            "cartel source:borderwire",
        ):
            expected = corpus.newest_first({k for k in _everything_uncapped(corpus, text)})
            for offset in (0, 2, 4):
                page = search(s, text, sort="date", limit=2, offset=offset)
                assert corpus.keys(h.item_id for h in page.hits) == expected[offset : offset + 2], (text, offset)
                if len(expected) > max(3, offset + 2):
                    assert page.total == max(3, offset + 2) and not page.total_exact
        streamed = corpus.keys(h.item_id for h in iter_matches(s, "cartel", sort="date", batch=2))
    # "backdated" has the lowest id and the newest date: the probe of the newest ids misses it, the check finds it.
    assert streamed[0] == "backdated" and streamed == corpus.newest_first(CARTEL)


def _everything_uncapped(corpus: Corpus, text: str) -> set[str]:
    with corpus.db.session() as s:
        return set(corpus.keys(h.item_id for h in iter_matches(s, text, sort="id")))


@pytest.mark.usefixtures("tiny_caps")
def test_beyond_the_cap_relevance_ranks_the_newest_matches(corpus: Corpus) -> None:
    with corpus.db.session() as s:
        page = search(s, "cartel", sort="relevance", limit=2)
    assert page.ranked == 3 and not page.total_exact
    newest_ids = sorted((corpus.ids[k] for k in CARTEL), reverse=True)[:3]
    assert {h.item_id for h in page.hits} <= set(newest_ids)


def test_fts_index_is_not_rebuilt_and_search_column_is_folded(db: Database) -> None:
    with db.engine.connect() as conn:
        if db.dialect == "sqlite":
            triggers = conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'trigger'").scalars().all()
            assert {"items_fts_insert", "items_fts_delete", "items_fts_update"} <= set(triggers)
        else:
            folded = conn.exec_driver_sql("SELECT search_fold('El CÁRTEL, narco-bloqueo Łódź ΆΣ')").scalar()
            assert folded == "El CARTEL narco bloqueo Łodz ΆΣ"
