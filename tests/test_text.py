"""The three folds: what each keeps and drops, and the index fold against SQLite FTS5 and PostgreSQL's search_fold."""

from __future__ import annotations

import importlib.util
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from aggregator.store.database import Database
from aggregator.stories.grouping import Doc, group, stems
from aggregator.text import (
    LATIN_DIACRITICS,
    fold_for_index,
    fold_for_rules,
    fold_for_story_words,
    words_for_rules,
)

REPO = Path(__file__).resolve().parents[1]
# Latin-1 Supplement and Latin Extended-A, Greek and Cyrillic letters: the scripts the beat's outlets write in,
# and their neighbours. (Final "ς" is left out: FTS5 indexes it as "σ", the index fold keeps it.)
LETTERS = [
    chr(c)
    for start, end in ((0xC0, 0x17F), (0x386, 0x3CF), (0x400, 0x460))
    for c in range(start, end)
    if chr(c).isalpha() and chr(c) != "ς"
]


# --- rules: accents off, everything else kept ------------------------------------------------------------------


def test_rules_fold_drops_accents_and_keeps_case_and_punctuation() -> None:
    assert fold_for_rules("Cártel de Jalisco Nueva Generación") == "Cartel de Jalisco Nueva Generacion"
    assert fold_for_rules("¿SEÑAL? Ñandú, pingüino: ça!") == "¿SENAL? Nandu, pinguino: ca!"
    assert fold_for_rules("MS-13_x") == "MS-13_x"  # ASCII text comes back as it is


def test_rules_fold_keeps_other_scripts_without_their_accents() -> None:
    assert fold_for_rules("Картель Йемен") == "Картель Иемен"  # й is и with a breve
    assert fold_for_rules("Ελλάδα") == "Ελλαδα"
    assert fold_for_rules("حزب الله") == "حزب الله"
    assert fold_for_rules("Łódź Øresund") == "Łodz Øresund"  # ł and ø are letters of their own, not accented


def test_rules_fold_splits_compatibility_characters() -> None:
    assert fold_for_rules("ﬁentanyl x²\u00a0kg") == "fientanyl x2 kg"


def test_rule_words_split_at_anything_but_letters_and_digits() -> None:
    assert words_for_rules("MS-13 y narco-bloqueos_") == ["MS", "13", "y", "narco", "bloqueos"]
    assert words_for_rules("«Hizbulá», ¿El Mencho?") == ["Hizbula", "El", "Mencho"]
    assert words_for_rules("Картель «Синалоа»") == ["Картель", "Синалоа"]
    assert words_for_rules("") == [] and words_for_rules("— ¡! —") == []


# --- index: exactly what the full-text index does ---------------------------------------------------------------


def test_index_fold_lowercases_and_strips_latin_accents_only() -> None:
    assert fold_for_index("CÁRTEL") == "cartel"
    assert fold_for_index("Ñandú") == "nandu"
    assert fold_for_index("Me\u0301xico") == "mexico"  # decomposed input too
    assert fold_for_index("Łódź") == "łodz"
    assert fold_for_index("ΆΣ") == "άσ"  # Greek accents stay; a final capital sigma becomes σ, as in the index
    assert fold_for_index("Йемен") == "йемен"  # the Cyrillic breve stays
    assert fold_for_index("narco-bloqueo") == "narco-bloqueo"  # splitting words is not the fold's job


def _fts5_tokens(words: list[str]) -> list[str]:
    con = sqlite3.connect(":memory:")
    con.execute("CREATE VIRTUAL TABLE t USING fts5(x, tokenize = 'unicode61 remove_diacritics 2')")
    con.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, 'instance')")
    con.executemany("INSERT INTO t(rowid, x) VALUES (?, ?)", enumerate(words))
    found = dict(con.execute("SELECT doc, term FROM v"))
    con.close()
    return [found[i] for i in range(len(words))]


def test_index_fold_matches_sqlite_fts5_unicode61() -> None:
    words = [f"{letter}a" for letter in LETTERS] + ["CÁRTEL", "Extradición", "Ñandú", "Me\u0301xico", "ΣΑΣ"]
    assert [fold_for_index(w) for w in words] == _fts5_tokens(words)


def test_index_fold_matches_postgresql_search_fold(postgres_url: str) -> None:
    words = [f"{letter}a" for letter in LETTERS] + ["CÁRTEL", "Extradición", "Ñandú", "Me\u0301xico", "ΣΑΣ"]
    db = Database(postgres_url)
    query = text(
        "SELECT array_to_string(tsvector_to_array(to_tsvector('simple', search_fold(w))), ' ')"
        " FROM unnest(CAST(:words AS text[])) WITH ORDINALITY AS u(w, n) ORDER BY n"
    )
    with db.engine.connect() as conn:
        indexed = list(conn.execute(query, {"words": words}).scalars())
    db.close()
    assert [fold_for_index(w) for w in words] == indexed


def test_latin_diacritics_are_the_migrations_list() -> None:
    # Migration 0005 keeps its own copy (migrations never import the application): the two must not drift.
    path = REPO / "models" / "migrations" / "versions" / "0005_search_folded.py"
    spec = importlib.util.spec_from_file_location("migration_0005", path)
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    assert migration.LATIN_DIACRITICS.encode("ascii").decode("unicode_escape") == LATIN_DIACRITICS


# --- story words: lower-case, accents off, every script kept ----------------------------------------------------


def test_story_fold_lowercases_and_drops_accents_and_thousands_separators() -> None:
    assert fold_for_story_words("Extradición de ÑANDÚ") == "extradicion de nandu"
    assert fold_for_story_words("2,500 pastillas y 2.500 pills; 3.5 kg") == "2500 pastillas y 2500 pills; 3.5 kg"
    assert fold_for_story_words("¿Qué pasó?") == "¿que paso?"


def test_story_fold_keeps_non_latin_letters() -> None:
    assert fold_for_story_words("Картель Синалоа") == "картель синалоа"
    assert fold_for_story_words("Ελλάδα") == "ελλαδα"
    assert fold_for_story_words("حزب الله") == "حزب الله"
    assert fold_for_story_words("Łódź") == "łodz"


def test_story_fold_splits_at_typographic_punctuation_and_drops_invisible_characters() -> None:
    # A dash or curly apostrophe separates words as "-" and "'" do; a soft hyphen inside a word is no break.
    assert stems("Sinaloa—Jalisco") == stems("Sinaloa-Jalisco") == ["sinalo", "jalisc"]
    assert stems("Guzmán’s") == stems("Guzman's") == ["guzman"]
    assert stems("extra\u00addición") == stems("extradición")


def test_stories_in_other_scripts_are_grouped() -> None:
    # Once folded to nothing, Cyrillic titles had no stems, so copies of one report never met.
    title = "Картель Синалоа переправил фентанил через границу"
    body = "Пограничная служба задержала грузовик с фентанилом на границе Мексики и США в понедельник."
    other = "Землетрясение магнитудой шесть произошло у побережья Японии, сообщили сейсмологи."
    assert stems(title)
    at = datetime(2026, 3, 10, tzinfo=UTC)
    docs = [
        Doc(1, title, body, "ru", "a", at),
        Doc(2, title, body, "ru", "b", at + timedelta(hours=2)),
        Doc(3, "Землетрясение у берегов Японии", other, "ru", "c", at + timedelta(hours=3)),
    ]
    keys = group(docs, timedelta(hours=72)).keys
    assert keys[0] == keys[1] != keys[2]
