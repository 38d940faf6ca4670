"""An item's specifics (places, dates, counts, names, groups) in language-neutral form, and whether two agree."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache

from aggregator.stories.gazetteer import SPANISH_EU, ancestors, depth, groups, places
from aggregator.text import fold_for_rules, fold_for_story_words

KINDS = ("places", "dates", "numbers", "names", "groups")

# Capitalised words that are not names: titles, institutions, demonyms, calendar words and sentence openers, in
# English and Spanish (folded, lower case). A run of capitalised words breaks at them ("U.S. Attorney Daniel Kessler"
# names Daniel Kessler).
_NOT_NAMES = frozenset(
    """
    the a an and of in on at to for from by with as after before during but or if when while this that these those
    he she it they we his her its their there here who what where why how not no yes all some many more most new
    el la los las un una unos unas lo y e o u de del al en con por para sin sobre tras ante entre desde hasta segun
    su sus este esta estos estas ese esa eso aquel cuando donde como que quien tambien pero mas ya
    mr mrs ms dr gen col capt lt sgt sr sra lic ing don dona
    president presidente presidenta secretary secretario secretaria minister ministro ministra governor gobernador
    gobernadora mayor alcalde alcaldesa sheriff judge juez jueza attorney fiscal prosecutor prosecutors director
    directora chief jefe jefa commander comandante agent agente agents officer officers spokesman spokeswoman vocero
    vocera senator senador senadora rep representative diputado diputada general gral ambassador embajador
    department departamento office oficina agency agencia ministry ministerio secretariat secretaria institute
    instituto foundation fundacion center centre centro council consejo court corte tribunal congress congreso
    senate senado house camara cabinet gabinete government gobierno administration administracion
    army ejercito navy marina semar sedena guard guardia police policia ministerial municipal estatal federal
    national nacional state estado states estados public publica publico security seguridad defense defensa
    justice justicia treasury tesoro homeland border frontera patrol customs aduanas protection proteccion
    enforcement immigration inmigracion migracion drug drugs investigations investigation investigacion criminal
    district distrito southern northern eastern western southwest norte sur este oeste coast costa joint task force
    command comando operations operaciones port puerto field unit unidad division division bureau buro
    intelligence inteligencia attorneys general's fiscalia procuraduria republica republic prosecutor's
    university universidad press prensa news noticias times post journal report reporte group grupo crime crimen
    international internacional watch observatorio human rights derechos humanos nations naciones united unidas
    union white blanca casa pentagon pentagono federation federacion organization organizacion
    monday tuesday wednesday thursday friday saturday sunday lunes martes miercoles jueves viernes sabado domingo
    january february march april may june july august september october november december enero febrero marzo
    abril mayo junio julio agosto septiembre setiembre octubre noviembre diciembre
    mexican mexicans mexicano mexicana mexicanos american americans estadounidense estadounidenses colombian
    colombiano colombiana venezuelan venezolano venezolana venezolanos guatemalan honduran hondureno salvadoran
    ecuadorian ecuatoriano peruvian peruano chilean chileno spanish english ingles espanol cartel carteles
    associated reuters afp efe ap according officials authorities autoridades police cbp dea fbi hsi atf ice
    central america latin south north america latina sudamerica service servicio marshals alguaciles airport
    aeropuerto international bridge puente highway carretera insight crisis politico animal proceso milenio
    universal zeta riodoce infobae borderland beat
    """.split()
)
# Words that may sit inside a name ("Joaquín Guzmán de la Cruz") without being capitalised.
_CONNECTORS = frozenset("de del la las los da dos van von bin al".split())
# Words after which a capitalised run is a place ("in Chicomuselo", "cerca de Amatenango de la Frontera").
_LOCATIVES = frozenset("in near en at outside cerca municipio municipality town poblado comunidad ciudad".split())

_DOTTED = re.compile(r"\b(?:[A-Z]\.\s?)+[A-Z]\.")  # U.S. -> US, U.S.A. -> USA (EE.UU. is split by its own alias)
_WORD = re.compile(r"[^\W_]+")
# A run of capitalised words, separated by spaces or hyphens, with lower-case connectors inside ("Tren de Aragua",
# "Amatenango de la Frontera"): a name never crosses a comma. Text is folded first, so capitals are A-Z.
_CONNECTOR_RE = "(?:de|del|la|las|los|da|dos|van|von|bin|al|y)"
_CAPITALISED = re.compile(rf"\b[A-Z][^\W_]*(?:(?:[ \t\-]+{_CONNECTOR_RE})*[ \t\-]+[A-Z][^\W_]*)*")

# Counts: a number, an optional scale, then (within a few filler words) a unit; or a killing verb before it.
_NUMBER_WORDS = {
    w: n
    for n, words in enumerate(
        [
            "",
            "one un uno una",
            "two dos",
            "three tres",
            "four cuatro",
            "five cinco",
            "six seis",
            "seven siete",
            "eight ocho",
            "nine nueve",
            "ten diez",
            "eleven once",
            "twelve doce",
            "thirteen trece",
            "fourteen catorce",
            "fifteen quince",
            "sixteen dieciseis",
            "seventeen diecisiete",
            "eighteen dieciocho",
            "nineteen diecinueve",
            "twenty veinte",
        ]
    )
    for w in words.split()
}
_NUMBER_STARTS = frozenset("0123456789") | {w[0] for w in _NUMBER_WORDS}
_SCALES = {"thousand": 1e3, "mil": 1e3, "million": 1e6, "millions": 1e6, "millones": 1e6, "millon": 1e6}
_SCALES |= {"billion": 1e9, "billones": 1e12}
_UNITS: dict[str, tuple[str, float]] = {}
for _unit, _factor, _words in (
    ("kg", 1.0, "kg kgs kilo kilos kilogram kilograms kilogramo kilogramos"),
    ("kg", 0.4536, "lb lbs pound pounds libra libras"),
    ("kg", 1000.0, "ton tons tonne tonnes tonelada toneladas"),
    ("kg", 0.001, "gram grams gramo gramos"),
    ("dead", 1.0, "dead killed deaths died muertos muertas muerto muerta fallecidos fallecidas asesinados asesinadas"),
    ("dead", 1.0, "murieron fallecieron"),
    ("dead", 1.0, "bodies cuerpos cadaveres"),
    ("wounded", 1.0, "wounded injured heridos heridas herido lesionados lesionadas"),
    ("migrants", 1.0, "migrants migrant migrantes migrante"),
    ("arrested", 1.0, "arrested detained arrests detenidos detenidas detenido capturados aprehendidos"),
    ("boats", 1.0, "boat boats vessel vessels lancha lanchas embarcacion embarcaciones narcolanchas"),
    ("boats", 1.0, "semisubmersible semisubmersibles semisumergible semisumergibles"),
    ("dollars", 1.0, "dollars dolares dolar dollar usd"),
    ("pesos", 1.0, "pesos mxn"),
    ("pills", 1.0, "pills pastillas tablets tabletas"),
    ("weapons", 1.0, "rifles weapons firearms guns armas fusiles"),
    ("displaced", 1.0, "displaced desplazados desplazadas"),
):
    for _w in _words.split():
        _UNITS[_w] = (_unit, _factor)
_FILLERS = frozenset(
    "de of more than people persons personas presuntos presuntas alleged suspected armed undocumented "
    "indocumentados were was have had been fueron han habian sido quedaron resultaron about some unos unas "
    "other otros otras at least al menos and y the los las all todos todas "
    # who was counted, between the number and the unit ("six state police killed", "tres tripulantes murieron")
    "men hombres women mujeres civilians civiles police policias officers agentes soldiers soldados militares "
    "crew tripulantes members integrantes villagers people state estatales municipales federales".split()
)
_KILLING = frozenset("killing killed kills kill mato mataron matan asesino asesinaron asesinan ejecutaron".split())
_BEFORE_FILLERS = frozenset("at least al menos a las los all some about nearly unos unas cerca de".split())
_NUMBER = re.compile(r"\$|\d+(?:[.,]\d+)?|[^\W\d_]+")

_MONTHS = {
    w: n
    for n, words in enumerate(
        [
            "",
            "january jan enero",
            "february feb febrero",
            "march marzo",
            "april abril",
            "may mayo",
            "june junio",
            "july julio",
            "august aug agosto",
            "september sept sep septiembre setiembre",
            "october oct octubre",
            "november nov noviembre",
            "december dec diciembre",
        ]
    )
    for w in words.split()
}
_WEEKDAYS = {
    w: n
    for n, words in enumerate(
        "monday lunes,tuesday martes,wednesday miercoles,thursday jueves,friday viernes,saturday sabado,"
        "sunday domingo".split(",")
    )
    for w in words.split()
}
_RELATIVE = {"today": 0, "hoy": 0, "tonight": 0, "yesterday": -1, "ayer": -1, "anoche": -1}
_DATE_WORDS = frozenset(_MONTHS) | frozenset(_WEEKDAYS) | frozenset(_RELATIVE)
# A day named by weekday or "yesterday" is read in the item's own zone, which a UTC date can miss by one.
_ZONE_SLACK = 1


@dataclass(frozen=True)
class Specifics:
    """What an item says happened where, when, how much and to whom, in forms both languages share."""

    places: frozenset[str]  # the most specific places named ("otay mesa", not "california" as well)
    regions: frozenset[str]  # those places and every place containing them
    dates: frozenset[tuple[int, int]]  # days named, as ordinal ranges (lo, hi)
    counts: frozenset[tuple[str, float]]  # (unit, value): ("kg", 186.9), ("dead", 9)
    names: frozenset[str]  # surname-like words of capitalised multi-word names (people, vessels)
    groups: frozenset[str]  # armed groups named, factions under their organisation
    group_regions: frozenset[str]
    levels: tuple[frozenset[str], ...] = ()  # the places at city level or finer, state or finer, any


@dataclass(frozen=True)
class Agreement:
    """Which kinds of specifics two items share and which conflict, with the shared values for the reader."""

    shared: dict[str, list[str]]
    conflicts: tuple[str, ...]


def _is_title_case(title: str) -> bool:
    words = [w for w in _WORD.findall(title) if len(w) > 3]
    return len(words) >= 3 and sum(w[0].isupper() for w in words) >= 0.6 * len(words)


@cache
def _aliases() -> tuple[dict[tuple[str, ...], tuple[str, str]], dict[str, tuple[int, ...]]]:
    """Every place and group alias -> (kind, name), a group winning a tie ("Sinaloa" alone is the state); and for
    each first word of an alias, the alias lengths that start with it, longest first."""
    table = {words: ("place", name) for words, name in places()[0].items()}
    table.update({words: ("group", name) for words, name in groups()[0].items()})
    sizes: dict[str, set[int]] = {}
    for words in table:
        sizes.setdefault(words[0], set()).add(len(words))
    return table, {first: tuple(sorted(n, reverse=True)) for first, n in sizes.items()}


def _match(words: list[str], i: int) -> tuple[str, str, int] | None:
    """The longest alias starting at word i: its kind, its name and how many words it takes."""
    table, starts = _aliases()
    word = words[i]
    for first in (word, word.lower()):
        for size in starts.get(first, ()):
            if i + size > len(words):
                continue
            chunk = (first, *words[i + 1 : i + size])
            hit = table.get(chunk) or table.get(tuple(w.lower() for w in chunk))
            if hit is not None:
                return hit[0], hit[1], size
    return None


def _undot(found: re.Match[str]) -> str:
    return found.group().replace(".", "").replace(" ", "")


def _names_and_places(text: str, language: str, *, with_names: bool) -> tuple[set[str], set[str], set[str], set[str]]:
    """Known places, known groups, other capitalised places (after "in", "en"...) and name words of a folded text."""
    starts = _aliases()[1]
    found: dict[str, set[str]] = {"place": set(), "group": set()}
    other_places: set[str] = set()
    name_words: set[str] = set()
    spanish = language.startswith("es")
    folded = _DOTTED.sub(_undot, text)
    # Only runs of capitalised words (with "de", "la"... inside) can hold a place, a group or a name; the regex
    # skips everything else, which is most of the text.
    for run_match in _CAPITALISED.finditer(folded):
        run = run_match.group().replace("-", " ").split()
        before = folded[max(0, run_match.start() - 24) : run_match.start()].split()
        placed = bool(before) and before[-1].lower() in _LOCATIVES
        pending: list[str] = []
        i = 0
        while i < len(run):
            word = run[i]
            low = word.lower()
            hit = _match(run, i) if word[:1].isupper() and (word in starts or low in starts) else None
            inside = pending and low in _CONNECTORS and i + 1 < len(run) and run[i + 1][:1].isupper()
            if hit is None and (inside or (not word.isupper() and len(word) > 1 and low not in _NOT_NAMES)):
                pending.append(word)
                i += 1
                continue
            if pending:
                _close_run(pending, placed, other_places, name_words, with_names)
                pending = []
            placed = low in _LOCATIVES
            if hit is None:
                i += 1
                continue
            kind, name, size = hit
            found[kind].add(SPANISH_EU if spanish and run[i : i + size] == ["EU"] else name)
            i += size
        if pending:
            _close_run(pending, placed, other_places, name_words, with_names)
    return found["place"], found["group"], other_places, name_words


def _close_run(words: list[str], placed: bool, other_places: set[str], names: set[str], with_names: bool) -> None:
    while words and words[-1].lower() in _CONNECTORS:
        words = words[:-1]
    while words and words[0].lower() in _CONNECTORS:
        words = words[1:]
    core = [w for w in words if w.lower() not in _CONNECTORS]
    if not core:
        return
    if placed and with_names:
        other_places.add(" ".join(w.lower() for w in words))
    elif with_names and len(core) >= 2:
        names.update(w.lower() for w in core[1:] if len(w) > 2)  # surnames: the given name says little


def _dates(tokens: list[str], published: date) -> set[tuple[int, int]]:
    out: set[tuple[int, int]] = set()
    today = published.toordinal()
    for i in [i for i, tok in enumerate(tokens) if tok in _DATE_WORDS]:  # a comprehension: most words are not
        tok = tokens[i]
        if tok in _MONTHS:
            month = _MONTHS[tok]
            day = None
            if i + 1 < len(tokens) and tokens[i + 1].isdigit():  # "March 3"
                day, year_at = int(tokens[i + 1]), i + 2
            elif i >= 2 and tokens[i - 1] == "de" and tokens[i - 2].isdigit():  # "3 de marzo"
                day, year_at = int(tokens[i - 2]), i + 1 + (i + 1 < len(tokens) and tokens[i + 1] == "de")
            elif i >= 1 and tokens[i - 1].isdigit():  # "3 March"
                day, year_at = int(tokens[i - 1]), i + 1
            if day is None or not 1 <= day <= 31:
                continue
            year = published.year
            if year_at < len(tokens) and len(tokens[year_at]) == 4 and tokens[year_at].isdigit():
                year = int(tokens[year_at])
            try:
                when = date(year, month, day)
                if year_at >= len(tokens) or not tokens[year_at].isdigit():
                    if when.toordinal() > today + 7:  # "December 30" in a January item: last year's
                        when = date(year - 1, month, day)
            except ValueError:
                continue
            out.add((when.toordinal(), when.toordinal()))
        elif tok in _WEEKDAYS:
            back = (published.weekday() - _WEEKDAYS[tok]) % 7
            day_n = today - back
            out.add((day_n - _ZONE_SLACK, day_n + _ZONE_SLACK))
        elif tok in _RELATIVE:
            day_n = today + _RELATIVE[tok]
            out.add((day_n - _ZONE_SLACK, day_n + _ZONE_SLACK))
    return out


def _counts(tokens: list[str]) -> set[tuple[str, float]]:
    out: set[tuple[str, float]] = set()
    numbers = [
        i for i, tok in enumerate(tokens) if tok[0] in _NUMBER_STARTS and (tok[0].isdigit() or tok in _NUMBER_WORDS)
    ]
    for i in numbers:
        tok = tokens[i]
        value = float(_NUMBER_WORDS[tok]) if tok in _NUMBER_WORDS else float(tok.replace(",", "."))
        j = i + 1
        if j < len(tokens) and tokens[j] in _SCALES:
            value *= _SCALES[tokens[j]]
            j += 1
            if j < len(tokens) and tokens[j] in _SCALES:  # "mil millones"
                value *= _SCALES[tokens[j]]
                j += 1
        unit = None
        for k in range(j, min(j + 4, len(tokens))):
            if tokens[k] in _UNITS:
                unit, factor = _UNITS[tokens[k]]
                value *= factor
                break
            if tokens[k] not in _FILLERS:
                break
        if unit is None and i >= 1 and tokens[i - 1] == "$":
            unit = "dollars"
        if unit is None:
            k = i - 1
            while k >= 0 and i - k <= 3 and tokens[k] in _BEFORE_FILLERS:
                k -= 1
            if k >= 0 and tokens[k] in _KILLING:
                unit = "dead"
        if unit is not None:
            out.add((unit, round(value, 3)))
    return out


def extract(title: str, lead: str, language: str, published: datetime) -> Specifics:
    """The specifics of one item from its headline and lead, dates read against its publication day."""
    place_parents, group_parents = places()[1], groups()[1]
    title, lead = fold_for_rules(title), fold_for_rules(lead)
    # A headline in Title Case capitalises every word, so its capitals say nothing about names or unknown places.
    known, found_groups, other, names = _names_and_places(lead, language, with_names=True)
    head = _names_and_places(title, language, with_names=not _is_title_case(title))
    known |= head[0]
    found_groups |= head[1]
    other |= head[2]
    names |= head[3]
    regions = set(other)
    contains: set[str] = set()
    for place in known:
        up = ancestors(place, place_parents)
        contains |= up
        regions |= up | {place}
    tokens = _NUMBER.findall(fold_for_story_words(f"{title}.\n{lead}"))  # accents are off already: a fast path
    group_up: set[str] = set()
    for g in found_groups:
        group_up |= ancestors(g, group_parents)
    named = frozenset((known - contains) | other)
    return Specifics(
        places=named,
        regions=frozenset(regions),
        dates=frozenset(_dates(tokens, published.date())),
        counts=frozenset(_counts(tokens)),
        names=frozenset(names - regions),
        groups=frozenset(found_groups - group_up),
        group_regions=frozenset(found_groups | group_up),
        levels=tuple(frozenset(p for p in named if depth(p) >= level) for level in (2, 1, 0)),
    )


def _same(a: float, b: float) -> bool:
    """Two counts of one unit agree: equal when small (3 dead is not 4), within rounding (10%) when large."""
    big = max(abs(a), abs(b))
    return a == b or (big >= 20 and abs(a - b) <= 0.1 * big)


def compare(a: Specifics, b: Specifics) -> Agreement:
    """Shared and conflicting specifics of two items.

    Places are compared at the finest level both name one (city, else state, else country): they conflict when
    none named there is the same as, or inside, a place the other names (Nogales and Lukeville; Chile and
    Colombia). Counts conflict per unit when no value agrees (more units disagreeing than agreeing); names and
    groups when both name some and share none; dates when no day named overlaps.
    """
    shared: dict[str, list[str]] = {}
    conflicts: list[str] = []
    for mine, theirs in zip(a.levels, b.levels, strict=True):  # the finest level both name a place at
        if mine and theirs:
            matched = (mine & b.regions) | (theirs & a.regions)
            if not matched:
                conflicts.append("places")
            elif any(depth(p) > 0 for p in matched):  # sharing a country says little
                # The reader sees every place finer than a country the two share, not only those of this level.
                common = (a.places & b.regions) | (b.places & a.regions)
                shared["places"] = sorted(p for p in common if depth(p) > 0)
            break
    if a.dates and b.dates:
        days = [(lo, hi) for lo, hi in a.dates for lo2, hi2 in b.dates if lo <= hi2 and lo2 <= hi]
        if days:
            shared["dates"] = sorted({date.fromordinal((lo + hi) // 2).isoformat() for lo, hi in days})
        else:
            conflicts.append("dates")
    if a.counts and b.counts:
        units = {u for u, _ in a.counts} & {u for u, _ in b.counts}
        agree, disagree = [], 0
        for unit in sorted(units):
            values = [v for u, v in a.counts if u == unit]
            hits = [v for u, v in b.counts if u == unit and any(_same(v, w) for w in values)]
            if hits:
                agree.append(show_count(unit, hits[0]))
            else:
                disagree += 1
        if agree and len(agree) >= disagree:
            shared["numbers"] = agree
        elif disagree:
            conflicts.append("numbers")
    for kind, mine, theirs, up_mine, up_theirs in (
        ("names", a.names, b.names, a.names, b.names),
        ("groups", a.groups, b.groups, a.group_regions, b.group_regions),
    ):
        if mine and theirs:
            common = (mine & up_theirs) | (theirs & up_mine)
            if common:
                shared[kind] = sorted(common)
            else:
                conflicts.append(kind)
    return Agreement(shared=shared, conflicts=tuple(conflicts))


def tokens(found: Specifics) -> list[str]:
    """Language-neutral words for the similarity the clusterer computes: places finer than a country, groups and
    counts (to two significant digits), so "tres muertos en el Caribe" meets "three killed in the Caribbean"."""
    out = [f"@{p}" for p in found.places if depth(p) > 0]
    out += [f"@{g}" for g in found.groups]
    out += [f"#{unit}:{float(f'{value:.2g}'):g}" for unit, value in found.counts]
    return out


def show_count(unit: str, value: float) -> str:
    """A count for the reader: "187 kg", "9 dead", "$310 million"."""
    if unit == "dollars":
        return f"${value / 1e6:g} million" if value >= 1e6 else f"${value:,.0f}"
    if unit == "pesos":
        return f"{value / 1e6:g} million pesos" if value >= 1e6 else f"{value:,.0f} pesos"
    return f"{value:,.0f} {unit}" if value >= 10 else f"{value:g} {unit}"


def show_place(name: str) -> str:
    """A place's name for the reader (its first alias); a place found only by its capitals, capitalised again."""
    return places()[2].get(name) or groups()[2].get(name) or name.title()
