"""The outlets a text names ("according to InSight Crime", "a report by Foreign Policy"), matched to configured
sources by name and alias."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from aggregator.config.sources import SourceConfig
from aggregator.text import fold_for_rules

# A name as texts write one: capitalised words ("InSight", "U.S.", "GI-TOC"), joined by the small words names hold.
_CAP = r"(?:[A-Z][\w’'&.-]*[\w.]|[A-Z])"
# Case-sensitive even inside the patterns that ignore case for their own words ("A report by ...").
_NAME = rf"(?-i:{_CAP}(?:\s+(?:(?:of|the|and|for|on|de|del|la|las|los|el|y|&)\s+)*{_CAP})*)"
_THE = r"(?:(?:the|el|la|los|las)\s+)?"
# Where a text says who said something: "according to X", "a report from X", "X notes that".
_CITING = [
    re.compile(rf"\baccording\s+to\s+{_THE}(?P<name>{_NAME})"),
    re.compile(
        rf"\b(?:reports?|study|studies|analysis|investigation|article|paper|book|research|data)\s+"
        rf"(?:from|by|published\s+by|of)\s+{_THE}(?P<name>{_NAME})",
        re.IGNORECASE,
    ),
    re.compile(
        rf"(?P<name>{_NAME})\s+(?:notes|noted|reports|reported|highlights|highlighted|found|finds|published|writes|"
        r"wrote|argues|documented|documents|warns|warned)\b"
    ),
    re.compile(rf"\b(?:seg[uú]n|de\s+acuerdo\s+con)\s+{_THE}(?P<name>{_NAME})", re.IGNORECASE),
    re.compile(
        rf"\b(?:informe|reporte|estudio|an[aá]lisis|investigaci[oó]n)\s+(?:de|del|publicado\s+por)\s+{_THE}"
        rf"(?P<name>{_NAME})",
        re.IGNORECASE,
    ),
]
# Names that a citing phrase can catch but that name no outlet.
_NOT_OUTLETS = {"sources", "recent", "officials", "experts", "analysts", "authorities", "fuentes", "it", "this"}
_SUFFIX = re.compile(r"\s*(\([^)]*\)|:.*)$")  # "InSight Crime (español)", "University of Arizona Press: news"


@dataclass(frozen=True)
class Named:
    """An outlet the text names: the name as written and the configured sources it is (none: not configured)."""

    name: str
    source_ids: tuple[str, ...]

    @property
    def source_id(self) -> str | None:
        return self.source_ids[0] if self.source_ids else None


def outlet_key(name: str) -> str:
    """A name compared case-, accent- and punctuation-insensitively, without a leading "the"."""
    words = re.findall(r"[^\W_]+", fold_for_rules(name).lower())
    if words and words[0] in ("the", "el", "la", "los", "las"):
        words = words[1:]
    return " ".join(words)


@dataclass(frozen=True)
class Directory:
    """Every configured source by the keys of its name (without a parenthesised or ": ..." suffix) and aliases."""

    by_key: dict[str, tuple[str, ...]]
    names: dict[str, str]  # source id -> its configured name
    _patterns: tuple[re.Pattern[str], ...]

    @classmethod
    def of(cls, sources: Iterable[SourceConfig]) -> Directory:
        by_key: dict[str, list[str]] = {}
        names: dict[str, str] = {}
        written: dict[str, str] = {}
        for source in sources:
            names[source.id] = source.name
            for name in (source.name, _SUFFIX.sub("", source.name), *source.aliases):
                key = outlet_key(name)
                if key and source.id not in by_key.setdefault(key, []):
                    by_key[key].append(source.id)
                    written.setdefault(key, name.strip())
        # Two patterns for every name, longest names first ("InSight Crime" before "Crime"): one alternation each
        # for names in any case and for acronyms ("DEA", "WOLA"), which count only in capitals ("dea" is a word).
        ordered = sorted(written.items(), key=lambda kv: -len(kv[0]))
        patterns = []
        for acronyms in (False, True):
            group = [r"\W+".join(re.escape(w) for w in k.split()) for k, n in ordered if n.isupper() == acronyms]
            if group:
                flags = 0 if acronyms else re.IGNORECASE
                patterns.append(re.compile(rf"(?<![^\W_])(?:{'|'.join(group)})(?![^\W_])", flags))
        return cls({k: tuple(v) for k, v in by_key.items()}, names, tuple(patterns))

    def named_in(self, text: str) -> list[Named]:
        """The outlets `text` names, configured or not, in order of appearance, each once."""
        folded = fold_for_rules(text)
        shown = text if len(folded) == len(text) else folded  # the offsets of a match hold in both
        found: list[tuple[int, Named]] = []
        taken: list[tuple[int, int]] = []
        for pattern in self._patterns:
            for hit in pattern.finditer(folded):
                if any(a < hit.end() and hit.start() < b for a, b in taken):
                    continue
                taken.append(hit.span())
                key = outlet_key(hit.group())
                found.append((hit.start(), Named(shown[hit.start() : hit.end()], self.by_key.get(key, ()))))
        for citing in _CITING:
            for hit in citing.finditer(text):
                name = _trim(hit.group("name"))
                start = hit.start("name")
                if not name or outlet_key(name) in _NOT_OUTLETS or len(outlet_key(name)) < 2:
                    continue
                if any(a < start + len(name) and start < b for a, b in taken):
                    continue
                taken.append((start, start + len(name)))
                found.append((start, Named(name, self.by_key.get(outlet_key(name), ()))))
        seen: set[str] = set()
        out = []
        for _, named in sorted(found, key=lambda f: f[0]):
            key = outlet_key(named.name)
            if key not in seen:
                seen.add(key)
                out.append(named)
        return out


def _trim(name: str) -> str:
    """A caught name without the sentence's words after it ("InSight Crime notes" gives "InSight Crime")."""
    return name.strip().rstrip(".").strip()
