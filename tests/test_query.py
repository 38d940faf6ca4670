"""The query parser: every piece of syntax, and a clean QueryError with a column for everything malformed or hostile."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from aggregator.errors import AggregatorError
from aggregator.search.query import (
    FILTERS,
    MAX_DEPTH,
    MAX_LENGTH,
    MAX_TERMS,
    And,
    Field,
    Not,
    Or,
    Query,
    QueryError,
    ScoreBound,
    Since,
    Story,
    Text,
    Until,
    parse,
    positive_texts,
)
from aggregator.text import fold_for_index


def root(text: str) -> object:
    return parse(text).root


def w(*words: str, prefix: bool = False) -> Text:
    return Text(words, prefix)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("cartel", w("cartel")),
        ("  cartel\t", w("cartel")),
        ("cartel sinaloa", And((w("cartel"), w("sinaloa")))),
        ("cartel AND sinaloa", And((w("cartel"), w("sinaloa")))),
        ("cartel OR sinaloa", Or((w("cartel"), w("sinaloa")))),
        ("a b OR c", Or((And((w("a"), w("b"))), w("c")))),
        ("a OR b c", Or((w("a"), And((w("b"), w("c")))))),
        ("a AND b OR c AND d", Or((And((w("a"), w("b"))), And((w("c"), w("d")))))),
        ("(a OR b) c", And((Or((w("a"), w("b"))), w("c")))),
        ("((a))", w("a")),
        ("NOT a b", And((Not(w("a")), w("b")))),
        ("a NOT b", And((w("a"), Not(w("b"))))),
        ("a -b", And((w("a"), Not(w("b"))))),
        ("a NOT NOT b", And((w("a"), w("b")))),
        ('a -"b c"', And((w("a"), Not(w("b", "c"))))),
        ("a -(b OR c)", And((w("a"), Not(Or((w("b"), w("c"))))))),
        ("a OR -b", Or((w("a"), Not(w("b"))))),
        ('"guardia nacional"', w("guardia", "nacional")),
        ('"guardia nacional"*', w("guardia", "nacional", prefix=True)),
        ("extradit*", w("extradit", prefix=True)),
        ("narco-bloqueo", w("narco", "bloqueo")),
        ("anti-cartel*", w("anti", "cartel", prefix=True)),
        ("and or not", And((w("and"), w("or"), w("not")))),
        ('"AND"', w("AND")),
        ("Cártel", w("Cártel")),
        ("a - b", And((w("a"), w("b")))),
        ("a & b", And((w("a"), w("b")))),
        ("a(b)", And((w("a"), w("b")))),
        ('a"b c"', And((w("a"), w("b", "c")))),
    ],
)
def test_words_phrases_and_operators(text: str, expected: object) -> None:
    assert root(text) == expected


def test_columns_point_at_each_piece() -> None:
    parsed = root('cartel -"guardia nacional" topic:cartels')
    assert isinstance(parsed, And)
    text, negated, topic = parsed.children
    assert isinstance(text, Text) and text.column == 1
    assert isinstance(negated, Not) and negated.column == 8
    assert isinstance(topic, Field) and topic.column == 28


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("topic:cartels", Field("topic", "cartels")),
        ("topic:Border_Security", Field("topic", "border_security")),
        ('topic:"cartels"', Field("topic", "cartels")),
        ("Topic:cartels", Field("topic", "cartels")),
        ("source:insightcrime-en", Field("source", "insightcrime-en")),
        ("lang:ES", Field("lang", "es")),
        ("tier:research", Field("tier", "research")),
        ("story:123", Story(123)),
        ("since:2024-01-01", Since(datetime(2024, 1, 1, tzinfo=UTC))),
        ("since:2024-02", Since(datetime(2024, 2, 1, tzinfo=UTC))),
        ("since:2024", Since(datetime(2024, 1, 1, tzinfo=UTC))),
        ("until:2024-12-31", Until(datetime(2025, 1, 1, tzinfo=UTC))),
        ("until:2024-02", Until(datetime(2024, 3, 1, tzinfo=UTC))),
        ("until:2024-12", Until(datetime(2025, 1, 1, tzinfo=UTC))),
        ("until:2024", Until(datetime(2025, 1, 1, tzinfo=UTC))),
        ("until:2024-2-9", Until(datetime(2024, 2, 10, tzinfo=UTC))),
        ("-topic:cartels", Not(Field("topic", "cartels"))),
    ],
)
def test_filters(text: str, expected: object) -> None:
    query = parse(f"x {text}")
    assert isinstance(query.root, And)
    assert query.root.children[1] == expected


def test_a_query_of_filters_alone_is_fine() -> None:
    assert root("topic:cartels lang:es") == And((Field("topic", "cartels"), Field("lang", "es")))


@pytest.mark.parametrize(
    ("text", "bounds"),
    [
        ("topic:cartels score>=0.8", (ScoreBound(">=", 0.8),)),
        ("topic:cartels score>0.5 score<0.9", (ScoreBound(">", 0.5), ScoreBound("<", 0.9))),
        ("cartel score<=1", (ScoreBound("<=", 1.0),)),
        ("cartel score>=.75", (ScoreBound(">=", 0.75),)),
        ("(cartel score>=0.5)", (ScoreBound(">=", 0.5),)),
    ],
)
def test_score_bounds_are_taken_out_of_the_tree(text: str, bounds: tuple[ScoreBound, ...]) -> None:
    query = parse(text)
    assert query.score_bounds == bounds
    assert not any(isinstance(n, ScoreBound) for n in _nodes(query.root))


def test_score_bound_alone_means_any_topic() -> None:
    assert parse("score>=0.9") == Query("score>=0.9", None, (ScoreBound(">=", 0.9),))
    assert parse("score>=0.9 -cartel").root == Not(w("cartel"))
    assert parse("(topic:a OR topic:b) score>0.5").topics == ("a", "b")


def _nodes(node: object) -> list[object]:
    if isinstance(node, Not):
        return [node, *_nodes(node.child)]
    if isinstance(node, And | Or):
        return [node, *(n for c in node.children for n in _nodes(c))]
    return [node]


def test_positive_texts_skip_negated_words() -> None:
    assert positive_texts(root('a -b (c OR NOT d) -"e f"')) == [w("a"), w("c")]


def test_fold_matches_the_index() -> None:
    assert fold_for_index("CÁRTEL") == "cartel"
    assert fold_for_index("Ñandú") == "nandu"
    assert fold_for_index("Me\u0301xico") == "mexico"
    # FTS5's remove_diacritics keeps letters that are not a Latin letter plus accent.
    assert fold_for_index("Łódź") == "łodz"
    assert fold_for_index("ΣΑΣ") == "σασ"


@pytest.mark.parametrize(
    ("text", "column", "words"),
    [
        ("", 1, "empty query"),
        ("   ", 1, "empty query"),
        ("&& —", 1, "empty query"),
        ('"', 1, "unbalanced quote"),
        ('cartel "guardia', 8, "unbalanced quote"),
        ('a "b" "c', 7, "unbalanced quote"),
        ("(cartel", 1, "unbalanced '('"),
        ("a (b (c)", 3, "unbalanced '('"),
        ("cartel)", 7, "unbalanced ')'"),
        (")", 1, "unbalanced ')'"),
        ("a OR (b))", 9, "unbalanced ')'"),
        ("()", 1, "empty parentheses"),
        ("a AND", 3, "'AND' needs something after it"),
        ("a OR", 3, "'OR' needs something after it"),
        ("a NOT", 3, "'NOT' needs something after it"),
        ("OR a", 1, "'OR' needs something before it"),
        ("AND a", 1, "'AND' needs something before it"),
        ("a AND OR b", 3, "'AND' needs something after it"),
        ("a OR OR b", 3, "'OR' needs something after it"),
        ("(a OR) b", 4, "'OR' needs something after it"),
        ("cartel topc:x", 8, "unknown filter 'topc'"),
        ("https://example.com", 1, "unknown filter 'https'"),
        ("topic:", 1, "'topic:' needs a value"),
        ('topic:""', 1, "'topic:' needs a value"),
        ("topic:a/b", 1, "topic takes an id"),
        ("source:Ünï", 1, "source takes an id"),
        ("lang:spanish", 1, "lang takes a language code"),
        ("tier:reserch", 1, "unknown tier 'reserch'"),
        ("story:abc", 1, "story takes a story number"),
        ("story:-1", 1, "story takes a story number"),
        ("story:99999999999999999999", 1, "story takes a story number"),
        ("since:2024-13-01", 1, "bad date '2024-13-01'"),
        ("until:2024-02-30", 1, "bad date '2024-02-30'"),
        ("since:yesterday", 1, "bad date 'yesterday'"),
        ("since:0000-01-01", 1, "bad date"),
        ("until:9999-12-31", 1, "bad date"),
        ("since>2024-01-01", 1, "'since' takes a colon"),
        ("cartel score>=abc", 8, "bad number 'abc'"),
        ("score>=nan", 1, "bad number 'nan'"),
        ("score>=1e3", 1, "bad number"),
        ("score>=1.5", 1, "score '1.5' is out of range"),
        ("score=0.5", 1, "score needs a comparison"),
        ("score:0.5", 1, "score needs a comparison"),
        ("cartel OR score>0.5", 11, "cannot be inside OR or NOT"),
        ("topic:a OR topic:b score>0.5", 20, "(topic:a OR topic:b) score>=0.8"),
        ("cartel -score>0.5", 8, "cannot be inside OR or NOT"),
        ("cartel NOT (score>0.5 b)", 13, "cannot be inside OR or NOT"),
        ("-cartel", 1, "only excludes"),
        ("NOT cartel -sinaloa", 1, "only excludes"),
        ("-a OR -b", 1, "only excludes"),
        ("-topic:cartels", 1, "only excludes"),
        ("-topic:cartels score>0.5", 1, "only excludes"),
        ("ca*", 1, "prefix 'ca*' is too short"),
        ('"guardia n"*', 1, "prefix 'n*' is too short"),
        ("x" * (MAX_LENGTH + 1), MAX_LENGTH + 1, "query too long"),
        (" ".join(["w"] * (MAX_TERMS + 1)), 2 * MAX_TERMS + 1, "too many words and filters"),
        ("(" * (MAX_DEPTH + 1) + "a" + ")" * (MAX_DEPTH + 1), MAX_DEPTH + 1, "too deeply nested"),
    ],
)
def test_malformed_queries_point_at_the_problem(text: str, column: int, words: str) -> None:
    with pytest.raises(QueryError) as caught:
        parse(text)
    error = caught.value
    assert isinstance(error, AggregatorError)
    assert error.column == column, str(error)
    message = str(error)
    assert message.startswith("query: ") and words in message and f"at column {column}" in message
    assert "\n" not in message
    line, caret = error.pointer().split("\n")
    assert caret.endswith("^") and len(caret) <= len(line) + 1


def test_unknown_filter_lists_the_known_ones() -> None:
    with pytest.raises(QueryError) as caught:
        parse("cartel topc:x")
    assert str(caught.value).startswith(
        "query: unknown filter 'topc' at column 8 (known: topic, source, lang, tier, since, until, score, story"
    )
    assert caught.value.pointer() == "cartel topc:x\n       ^"


def test_pointer_of_a_long_query_is_a_window_around_the_problem() -> None:
    text = "a " * 40 + "(b"
    with pytest.raises(QueryError) as caught:
        parse(text)
    line, caret = caught.value.pointer(width=40).split("\n")
    assert len(line) <= 42 and line.startswith("…")
    assert line[len(caret) - 1] == "("


@pytest.mark.parametrize(
    "text",
    [
        "NEAR(a b)",
        "NEAR(a b",
        "a^b",
        "^cartel",
        "title:cartel",
        "cartel:",
        "a:b:c",
        '"a " b"',
        'ab"cd',
        "'; DROP TABLE items; --",
        "1' OR '1'='1",
        "a\x00b",
        "\x00",
        "cartel\x1b[31m",
        "a\u202eb",
        "\ud800",
        "*",
        "-",
        "--a",
        "---",
        "a - - b",
        "(" * 10_000,
        ")" * 10_000,
        "(" * 10_000 + "a" + ")" * 10_000,
        "NOT " * 500 + "a",
        "- " * 1000,
        "a " * 5000,
        '"' * 3,
        "{a} [b] <c> |d| ~e +f !g",
        '\\ \\\\ \\"',
        "%s %d {0} $1 ?",
    ],
)
def test_hostile_input_parses_or_fails_cleanly(text: str) -> None:
    try:
        parsed = parse(text)
    except QueryError as error:
        assert 1 <= error.column <= len(text) + 1
        return
    for node in _nodes(parsed.root):
        if isinstance(node, Text):
            # Only letters and digits reach the index.
            assert all(word and all(ch.isalnum() or ch in "\u0301" for ch in word) for word in node.words)


def test_nul_and_quotes_never_reach_a_word() -> None:
    assert root("a\x00b") == And((w("a"), w("b")))
    assert root("'; DROP TABLE items; --") == And((w("DROP"), w("TABLE"), w("items")))
    assert root("NEAR(a b)") == And((w("NEAR"), w("a"), w("b")))


def test_deep_not_chain_does_not_recurse() -> None:
    assert root("NOT " * 400 + "a b") == And((w("a"), w("b")))
    assert root("NOT " * 401 + "a b") == And((Not(w("a")), w("b")))


HOSTILE = list('abcXYZáÉñ01 \t\n"()*-:^<>=.,;\'\\/&|!~{}[]%$#@_+') + [
    "AND ", "OR ", "NOT ", "topic:", "score>=", "since:", "story:", "lang:", "NEAR(", "\x00", "\u0301", "—", "☃",
]  # fmt: skip


def test_fuzz_only_query_errors_escape() -> None:
    rng = random.Random(20261126)
    outcomes = {"parsed": 0, "error": 0}
    for _ in range(5000):
        text = "".join(rng.choice(HOSTILE) for _ in range(rng.randint(0, 40)))
        try:
            parse(text)
            outcomes["parsed"] += 1
        except QueryError as error:
            assert 1 <= error.column <= len(text) + 1, (text, str(error))
            assert "\n" not in str(error)
            error.pointer()
            outcomes["error"] += 1
    # The alphabet is hostile enough to exercise both paths.
    assert outcomes["parsed"] > 500 and outcomes["error"] > 500


def test_known_filters_are_the_documented_ones() -> None:
    assert FILTERS == ("topic", "source", "lang", "tier", "since", "until", "score", "story", "entity")
