"""The researchers' query language: one parser from query text to an AST, with errors that point at the problem."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Literal

from aggregator.config.sources import Tier
from aggregator.errors import QueryError
from aggregator.text import fold_for_index

FILTERS = ("topic", "source", "lang", "tier", "since", "until", "score", "story", "entity")
KEYWORDS = ("AND", "OR", "NOT")
# Limits that keep hostile input cheap: the parser recurses per parenthesis level, and every word becomes an
# index lookup. Researchers' real queries stay far below them.
MAX_LENGTH = 2000
MAX_DEPTH = 20
MAX_TERMS = 64
# "ca*" would merge the postings of thousands of index terms on a large collection.
MIN_PREFIX = 3
SCORE_OPS = (">=", "<=", ">", "<")
MAX_ENTITY = 200  # entity:"Cártel de Jalisco Nueva Generación" and longer aliases fit


# --- the AST ---------------------------------------------------------------------------------------------------
# Columns are 1-based positions in the query text; they do not take part in equality, so tests and callers can
# compare shapes.


@dataclass(frozen=True)
class Text:
    """Words to find, in this order and next to each other; one word is the common case.

    `words` are as typed, split where the index splits them (at anything but letters and digits), so
    "narco-bloqueo" is the two-word phrase ("narco", "bloqueo"). With `prefix` the last word is a prefix.
    """

    words: tuple[str, ...]
    prefix: bool = False
    column: int = field(default=0, compare=False)

    @property
    def folded(self) -> tuple[str, ...]:
        return tuple(fold_for_index(w) for w in self.words)


@dataclass(frozen=True)
class Field:
    """topic:, source:, lang: or tier: with its (lower-cased, validated) value; entity: with its value as typed (an
    id or an alias, resolved against the stored entities by aggregator.search.entity_filter)."""

    name: Literal["topic", "source", "lang", "tier", "entity"]
    value: str
    column: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Story:
    """story:123, the items grouped into one story."""

    story_id: int
    column: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Since:
    """since:2024-01-01: dated at or after `at`, the start of that day, month or year (UTC midnight here; compiling
    moves it to the reporter's zone, see aggregator.search.sql.compile_query)."""

    at: datetime
    column: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Until:
    """until:2024-12-31: dated before `before`, the midnight that ends that day (so the day is included; UTC here,
    the reporter's zone once compiled)."""

    before: datetime
    column: int = field(default=0, compare=False)


@dataclass(frozen=True)
class ScoreBound:
    """score>=0.8: bounds the topic score of the query's topic filters (or of any topic when there are none)."""

    op: Literal[">=", "<=", ">", "<"]
    value: float
    column: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Not:
    child: Node
    column: int = field(default=0, compare=False)


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]


# ScoreBound appears only while parsing: parse() moves every bound into Query.score_bounds.
Node = Text | Field | Story | Since | Until | ScoreBound | Not | And | Or


@dataclass(frozen=True)
class Query:
    """A parsed query: the boolean tree (None when only score bounds were given) and the score bounds."""

    text: str
    root: Node | None
    score_bounds: tuple[ScoreBound, ...] = ()

    @property
    def topics(self) -> tuple[str, ...]:
        """Every topic named in the query, in order."""
        return tuple(n.value for n in walk(self.root) if isinstance(n, Field) and n.name == "topic")


def walk(node: Node | None) -> list[Node]:
    """The node and everything under it, depth first (trees are at most MAX_DEPTH deep)."""
    if node is None:
        return []
    out: list[Node] = [node]
    if isinstance(node, Not):
        out += walk(node.child)
    elif isinstance(node, And | Or):
        for child in node.children:
            out += walk(child)
    return out


def positive_texts(node: Node | None) -> list[Text]:
    """The Text nodes that a hit can contain (those under NOT cannot): what highlighting marks."""
    if isinstance(node, Text):
        return [node]
    if isinstance(node, And | Or):
        return [t for child in node.children for t in positive_texts(child)]
    return []


# --- words: split the way the full-text index does it (aggregator.text.fold_for_index folds them as it does) --


# Letters and digits (and the Latin combining accents of decomposed text); everything else, "_" included,
# splits words, as in FTS5's unicode61 tokenizer.
WORD = re.compile(r"(?:[^\W_]|[\u0300-\u036f])+")


def word_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of every word in `text`."""
    return [m.span() for m in WORD.finditer(text)]


# --- lexer -----------------------------------------------------------------------------------------------------


@dataclass
class _Token:
    kind: Literal["(", ")", "AND", "OR", "NOT", "text", "filter", "score"]
    column: int
    negated: bool = False
    words: tuple[str, ...] = ()
    prefix: bool = False
    name: str = ""
    value: str = ""


_FILTER = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(:|>=|<=|>|<|=)(.*)", re.DOTALL)
_SEPARATOR = ' \t\n\r\f\v()"'


def _is_space(ch: str) -> bool:
    return ch.isspace() or unicodedata.category(ch) == "Cc"


class _Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[_Token] = []

    def error(self, problem: str, column: int, hint: str = "") -> QueryError:
        return QueryError(problem, self.text, column, hint)

    def run(self) -> list[_Token]:
        text, i = self.text, 0
        while i < len(text):
            ch = text[i]
            if _is_space(ch):
                i += 1
            elif ch in "()":
                self.tokens.append(_Token("(" if ch == "(" else ")", i + 1))
                i += 1
            else:
                negated = ch == "-" and i + 1 < len(text) and not _is_space(text[i + 1]) and text[i + 1] != ")"
                if negated and text[i + 1] == "(":
                    self.tokens.append(_Token("NOT", i + 1))
                    i += 1
                    continue
                i = self._atom(i + 1 if negated else i, negated, column=i + 1)
        return self.tokens

    def _quoted(self, i: int) -> tuple[str, int]:
        """The text between the quote at `i` and its closing quote, and the index after it."""
        end = self.text.find('"', i + 1)
        if end < 0:
            raise self.error("unbalanced quote: no closing '\"' for this one", i + 1)
        return self.text[i + 1 : end], end + 1

    def _atom(self, i: int, negated: bool, column: int) -> int:
        text = self.text
        if text[i] == '"':
            inner, i = self._quoted(i)
            prefix = i < len(text) and text[i] == "*"
            self._text(inner, prefix, negated, column, i + int(prefix))
            return i + int(prefix)
        start = i
        while i < len(text) and not _is_space(text[i]) and text[i] not in _SEPARATOR:
            i += 1
        chunk = text[start:i]
        if not negated and chunk in KEYWORDS:
            self.tokens.append(_Token(chunk, column))  # type: ignore[arg-type]
            return i
        found = _FILTER.fullmatch(chunk)
        if found is not None:
            return self._filter(found, chunk, i, negated, column)
        prefix = chunk.endswith("*")
        self._text(chunk[:-1] if prefix else chunk, prefix, negated, column, i)
        return i

    def _filter(self, found: re.Match[str], chunk: str, i: int, negated: bool, column: int) -> int:
        name, op = found.group(1).lower(), found.group(2)
        if name not in FILTERS:
            if op != ":":
                self._text(chunk, False, negated, column, i)  # "a<b" is just words
                return i
            raise self.error(
                f"unknown filter '{found.group(1)}'",
                column,
                f"known: {', '.join(FILTERS)}; put text with a colon in quotes",
            )
        value = chunk[len(found.group(1)) + len(op) :]
        if op == ":" and not value and i < len(self.text) and self.text[i] == '"':
            value, i = self._quoted(i)
        if name == "score":
            if op not in SCORE_OPS:
                raise self.error(
                    f"score needs a comparison: score>=, score>, score<= or score<, not 'score{op}'", column
                )
            self.tokens.append(_Token("score", column, negated, name=op, value=value))
            return i
        if op != ":":
            raise self.error(f"'{name}' takes a colon, e.g. {name}:{_EXAMPLES[name]}", column)
        if not value.strip():
            raise self.error(f"'{name}:' needs a value, e.g. {name}:{_EXAMPLES[name]}", column)
        self.tokens.append(_Token("filter", column, negated, name=name, value=value))
        return i

    def _text(self, raw: str, prefix: bool, negated: bool, column: int, end: int) -> None:
        words = tuple(raw[a:b] for a, b in word_spans(raw))
        if not words:
            # Punctuation alone ("&", "—", "*") holds nothing the index could find: it separates, as in the index.
            return
        if prefix and len(fold_for_index(words[-1])) < MIN_PREFIX:
            raise self.error(f"prefix '{words[-1]}*' is too short (at least {MIN_PREFIX} letters)", column)
        self.tokens.append(_Token("text", column, negated, words=words, prefix=prefix))


_EXAMPLES = {
    "topic": "cartels",
    "source": "insightcrime-en",
    "lang": "es",
    "tier": "research",
    "since": "2024-01-01",
    "until": "2024-12-31",
    "story": "123",
    "score": "0.8",
    "entity": "cjng",
}


# --- parser ----------------------------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str, tokens: list[_Token]) -> None:
        self.text = text
        self.tokens = tokens
        self.pos = 0
        self.depth = 0

    def error(self, problem: str, column: int, hint: str = "") -> QueryError:
        return QueryError(problem, self.text, column, hint)

    def peek(self) -> _Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def parse(self) -> Node:
        node = self.or_expr()
        token = self.peek()
        if token is not None:
            # Only a ")" can stop or_expr early.
            raise self.error("unbalanced ')': no '(' before it", token.column)
        return node

    def or_expr(self) -> Node:
        children = [self.and_expr()]
        while (token := self.peek()) is not None and token.kind == "OR":
            self.pos += 1
            if self._ends_operand():
                raise self.error("'OR' needs something after it", token.column)
            children.append(self.and_expr())
        return children[0] if len(children) == 1 else Or(tuple(children))

    def and_expr(self) -> Node:
        children = [self.unary()]
        while (token := self.peek()) is not None and token.kind not in ("OR", ")"):
            if token.kind == "AND":
                self.pos += 1
                if self._ends_operand():
                    raise self.error("'AND' needs something after it", token.column)
            children.append(self.unary())
        return children[0] if len(children) == 1 else And(tuple(children))

    def _ends_operand(self) -> bool:
        token = self.peek()
        return token is None or token.kind in ("AND", "OR", ")")

    def unary(self) -> Node:
        # NOT chains are counted, not recursed into: "NOT NOT ... x" ten thousand times deep stays flat.
        nots: list[_Token] = []
        while (token := self.peek()) is not None and token.kind == "NOT":
            nots.append(token)
            self.pos += 1
        token = self.peek()
        if token is None or token.kind in ("AND", "OR", ")"):
            if nots:
                raise self.error("'NOT' needs something after it", nots[-1].column)
            if token is None:
                raise self.error("the query ends where a word or filter was expected", len(self.text) + 1)
            if token.kind == ")":
                raise self.error("unbalanced ')': no '(' before it", token.column)
            raise self.error(f"'{token.kind}' needs something before it", token.column)
        node = self.atom()
        return Not(node, nots[0].column) if len(nots) % 2 else node

    def atom(self) -> Node:
        token = self.tokens[self.pos]
        self.pos += 1
        node: Node
        if token.kind == "(":
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise self.error(f"too deeply nested (at most {MAX_DEPTH} levels of parentheses)", token.column)
            closing = self.peek()
            if closing is None:
                raise self.error("unbalanced '(': no ')' after it", token.column)
            if closing.kind == ")":
                raise self.error("empty parentheses", token.column)
            node = self.or_expr()
            closing = self.peek()
            if closing is None or closing.kind != ")":
                raise self.error("unbalanced '(': no ')' after it", token.column)
            self.pos += 1
            self.depth -= 1
            return node
        if token.kind == "text":
            node = Text(token.words, token.prefix, token.column)
        elif token.kind == "score":
            node = _score(self, token)
        else:
            node = _filter_node(self, token)
        return Not(node, token.column) if token.negated else node


def _shown(value: str, limit: int = 30) -> str:
    """A value quoted for an error message: one line, short, no control characters."""
    flat = "".join(ch if ch.isprintable() else "\ufffd" for ch in value)
    return "'" + (flat if len(flat) <= limit else flat[: limit - 1] + "…") + "'"


def _filter_node(parser: _Parser, token: _Token) -> Node:
    name, value, column = token.name, token.value.strip(), token.column
    if name == "story":
        if not re.fullmatch(r"[0-9]{1,18}", value):
            raise parser.error(f"story takes a story number, e.g. story:123, not {_shown(value)}", column)
        return Story(int(value), column)
    if name in ("since", "until"):
        start, end = _period(parser, name, value, column)
        return Since(start, column) if name == "since" else Until(end, column)
    if name == "entity":
        if len(value) > MAX_ENTITY:
            raise parser.error(f"entity takes an id or a name of at most {MAX_ENTITY} characters", column)
        return Field("entity", value, column)
    value = value.lower()
    if name == "lang":
        if not re.fullmatch(r"[a-z]{2,3}", value):
            raise parser.error(f"lang takes a language code like 'en' or 'es', not {_shown(token.value)}", column)
    elif name == "tier":
        if value not in {t.value for t in Tier}:
            raise parser.error(
                f"unknown tier {_shown(token.value)}", column, f"known: {', '.join(t.value for t in Tier)}"
            )
    elif not re.fullmatch(r"[a-z0-9][a-z0-9_.-]{0,63}", value):
        raise parser.error(f"{name} takes an id like {_EXAMPLES[name]}, not {_shown(token.value)}", column)
    return Field(name, value, column)  # type: ignore[arg-type]


def _period(parser: _Parser, name: str, value: str, column: int) -> tuple[datetime, datetime]:
    """The UTC [start, end) of a year, month or day written YYYY, YYYY-MM or YYYY-MM-DD."""
    found = re.fullmatch(r"([0-9]{4})(?:-([0-9]{1,2})(?:-([0-9]{1,2}))?)?", value)
    try:
        if found is None:
            raise ValueError(value)
        year, month, day = int(found.group(1)), found.group(2), found.group(3)
        if day is not None:
            start = date(year, int(month), int(day))
            end = date.fromordinal(start.toordinal() + 1)
        elif month is not None:
            start = date(year, int(month), 1)
            end = date(year + 1, 1, 1) if start.month == 12 else date(year, start.month + 1, 1)
        else:
            start, end = date(year, 1, 1), date(year + 1, 1, 1)
    except (ValueError, OverflowError):
        raise parser.error(f"bad date {_shown(value)} for {name}: use YYYY-MM-DD, YYYY-MM or YYYY", column) from None
    return (
        datetime(start.year, start.month, start.day, tzinfo=UTC),
        datetime(end.year, end.month, end.day, tzinfo=UTC),
    )


def _score(parser: _Parser, token: _Token) -> ScoreBound:
    if not re.fullmatch(r"[0-9]+(?:\.[0-9]+)?|\.[0-9]+", token.value):
        raise parser.error(
            f"bad number {_shown(token.value)} for score: use a number from 0 to 1, e.g. 0.8", token.column
        )
    value = float(token.value)
    if value > 1:
        raise parser.error(f"score {_shown(token.value)} is out of range: topic scores go from 0 to 1", token.column)
    return ScoreBound(token.name, value, token.column)  # type: ignore[arg-type]


# --- after parsing: flatten, take the score bounds out, check that something is searched for ---------------------


def _flatten(node: Node) -> Node:
    if isinstance(node, Not):
        child = _flatten(node.child)
        return child.child if isinstance(child, Not) else Not(child, node.column)
    if isinstance(node, And | Or):
        kind = type(node)
        children: list[Node] = []
        for child in (_flatten(c) for c in node.children):
            children += child.children if isinstance(child, kind) else [child]
        return children[0] if len(children) == 1 else kind(tuple(children))
    return node


def _take_scores(text: str, node: Node, bounds: list[ScoreBound], inside: bool = False) -> Node | None:
    """Remove the score bounds from the tree into `bounds`; they may only stand in the top-level AND."""
    if isinstance(node, ScoreBound):
        if inside:
            raise QueryError(
                "a score bound applies to the whole query, so it cannot be inside OR or NOT",
                text,
                node.column,
                "put it outside: (topic:a OR topic:b) score>=0.8",
            )
        bounds.append(node)
        return None
    if isinstance(node, Not):
        _take_scores(text, node.child, bounds, inside=True)
        return node
    if isinstance(node, And):
        kept = [c for c in (_take_scores(text, c, bounds, inside) for c in node.children) if c is not None]
        if not kept:
            return None
        return kept[0] if len(kept) == 1 else And(tuple(kept))
    if isinstance(node, Or):
        for child in node.children:
            _take_scores(text, child, bounds, inside=True)
    return node


def _only_negations(node: Node) -> bool:
    if isinstance(node, Not):
        return True
    if isinstance(node, And | Or):
        return all(_only_negations(c) for c in node.children)
    return False


def parse(text: str) -> Query:
    """Parse a query; raise QueryError (with the column of the problem) for anything malformed.

    Syntax, loosest binding first:

    - `a OR b`; `a AND b`, or just `a b` (AND is implied); `NOT a` or `-a` (also `-"a phrase"`, `-topic:x`,
      `-(a OR b)`); parentheses group. Keywords are upper-case: "and", "or", "not" are words.
    - words match whole words, case- and accent-insensitively ("cartel" finds "Cártel"); `"exact phrase"`;
      `extradit*` for a prefix (at least 3 letters); a word with punctuation inside ("narco-bloqueo") is a phrase.
    - filters: `topic:cartels`, `source:insightcrime-en` (the item or any of its sightings), `lang:es`,
      `tier:research` (of any outlet that carried it), `since:2024-01-01` and `until:2024-12-31` (inclusive days,
      or a month `2024-06` or year `2024`, in UTC, on the publication date or else the first sighting),
      `story:123`, `entity:cjng` (an entity of entities.toml by id, or by any of its names: `entity:"el mencho"`),
      and `score>=0.8` (also `>`, `<=`, `<`): a bound on the score of the query's topic filters,
      or of any passed topic when the query has none; score bounds cannot be inside OR or NOT.
    """
    if len(text) > MAX_LENGTH:
        raise QueryError(f"query too long ({len(text)} characters, at most {MAX_LENGTH})", text, MAX_LENGTH + 1)
    tokens = _Lexer(text).run()
    if not tokens:
        raise QueryError("empty query: nothing to search for", text, 1)
    terms = [t for t in tokens if t.kind in ("text", "filter", "score")]
    if len(terms) > MAX_TERMS:
        raise QueryError(f"too many words and filters (at most {MAX_TERMS})", text, terms[MAX_TERMS].column)
    tree = _flatten(_Parser(text, tokens).parse())
    bounds: list[ScoreBound] = []
    root = _take_scores(text, tree, bounds)
    if root is not None and _only_negations(root) and not (bounds and not _has_topic(root)):
        raise QueryError("the query only excludes: add something to find, e.g. 'cartel -sinaloa'", text, 1)
    return Query(text, root, tuple(bounds))


def _has_topic(node: Node) -> bool:
    return any(isinstance(n, Field) and n.name == "topic" for n in walk(node))
