"""Judgement on real text: the hand-labelled real_dev set, and the vetoes and positive kinds of issue #13."""

from __future__ import annotations

from pathlib import Path

import pytest

from aggregator.classify.classifier import Classifier
from aggregator.classify.evaluation import evaluate
from aggregator.classify.examples import load_records, seed_examples
from aggregator.classify.rules import RuleEngine
from aggregator.classify.topics import load_topics
from tests.shared_fixtures import fixtures_root
from tests.test_classifier import show, tagged

REPO = Path(__file__).resolve().parents[1]
REAL_DEV = REPO / "tests" / "data" / "real_dev.jsonl"
TOPICS = load_topics(REPO / "config")
ENGINE = RuleEngine(TOPICS)
# Reached when the set was built (model 0.875, rules 0.859; before issue #13: 0.411 and 0.191), then with the
# sub-word block 0.897 (rules unchanged), less a margin: the set holds few positives (15), so one item moves a
# topic's F1 by several points.
REAL_DEV_MACRO_F1 = 0.86
REAL_DEV_RULES_MACRO_F1 = 0.84


@pytest.fixture(scope="module")
def clf() -> Classifier:
    return Classifier.train(seed_examples(), TOPICS)


def rules(title: str, text: str = "", lang: str | None = None) -> set[str]:
    return {t for t, r in ENGINE.score(title, text, lang).items() if r.passed}


# --- the real development set -------------------------------------------------------------------------------------


def test_real_dev_is_real_short_and_labelled() -> None:
    records = load_records(REAL_DEV)
    assert len(records) >= 150
    assert all(r["source"] and len(r["title"]) + len(r["text"]) <= 600 for r in records)
    for topic in TOPICS.ids:
        assert sum(topic in r["labels"] for r in records) >= 4
    seed_keys = {(e.title, e.text) for e in seed_examples()}
    assert not seed_keys & {(r["title"], r["text"]) for r in records}  # never trained on


def test_real_dev_sources_exist_in_shared_fixtures() -> None:
    root = fixtures_root()
    if root is None:
        pytest.skip("../shared/fixtures is absent")
    missing = {r["source"].split("#")[0] for r in load_records(REAL_DEV)} - {
        str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()
    }
    assert not missing


def test_real_dev_quality(clf: Classifier) -> None:
    records = load_records(REAL_DEV)
    result = evaluate(clf, records)
    show("real_dev.jsonl, classifier", result)
    rules_only = evaluate(Classifier(TOPICS), records)
    show("real_dev.jsonl, rules alone", rules_only)
    assert result["macro_f1"] >= REAL_DEV_MACRO_F1
    assert rules_only["macro_f1"] >= REAL_DEV_RULES_MACRO_F1


# --- vetoes: known ambiguities stay out -------------------------------------------------------------------------

VETOES = [
    (
        "EU fines chip makers over price-fixing cartel",
        "Four memory chip makers were fined for colluding on DRAM prices, the European Commission said.",
        "en",
        "cartels",
    ),
    (
        "Pharma cartel: drugmakers fined for fixing prices of generics",
        "The competition authority said the companies shared out customers for years.",
        "en",
        "cartels",
    ),
    (
        "Coup kingpin sentenced to 20 years",
        "The former army colonel who led the attempted coup against the president was convicted by a military court.",
        "en",
        "cartels",
    ),
    (
        "Candidato acusa a la mafia del poder de robar las elecciones",
        "En un mitin, dijo que la elección es una lucha contra la mafia que controla el partido en el gobierno.",
        "es",
        "cartels",
    ),
    (
        "Ransomware gang disrupts prescription drug sales at pharmacies",
        "The hackers encrypted the systems of a prescription processing company.",
        "en",
        "cartels",
    ),
    (
        "Senate extends warrantless wiretapping program",
        "Supporters said the surveillance is vital to the war on terror; privacy advocates objected.",
        "en",
        "terrorism",
    ),
    (
        "Computer worm hits millions of PCs",
        "Experts compared the malware outbreak to the war on terror, a fight without an end in sight.",
        "en",
        "terrorism",
    ),
    (
        "New plot twist in the murder trial",
        "The surviving roommate agreed to an interview with the defence.",
        "en",
        "terrorism",
    ),
    (
        "Gas explosion kills two in apartment block",
        "Firefighters blamed a gas leak from an old boiler.",
        "en",
        "terrorism",
    ),
    (
        "Río Grande, Zacatecas, inaugura su feria regional",
        "El municipio de Río Grande espera a miles de visitantes para los bailes y la charrería.",
        "es",
        "border_security",
    ),
    (
        "Homeland Security secretary nominee questioned on climate change",
        "At her confirmation hearing she said she was not prepared to determine the causes of climate change.",
        "en",
        "border_security",
    ),
    (
        "Search teams look for missing hikers after fire",
        "Dozens of people are still missing after the blaze; rescue crews are searching the mountain.",
        "en",
        "cartels",
    ),
]


@pytest.mark.parametrize(("title", "text", "lang", "topic"), VETOES, ids=[v[0][:40] for v in VETOES])
def test_vetoes_keep_known_ambiguities_out(clf: Classifier, title: str, text: str, lang: str, topic: str) -> None:
    assert topic not in rules(title, text, lang)
    assert topic not in tagged(clf, title, text, lang)


# --- positive kinds the rules missed before issue #13 ---------------------------------------------------------------

POSITIVES = [
    (
        "Explosion kills 2 near governor's office in Kirkuk",
        "KIRKUK, Iraq (AP) - A bomb went off outside the provincial government building, killing two guards.",
        "en",
        "terrorism",
    ),
    (
        "Kidnappers threaten to kill Bulgarian truck drivers",
        "The militants showed the hostages in a video and set a 72-hour deadline.",
        "en",
        "terrorism",
    ),
    (
        "Talibanes reivindican ataque contra convoy en Kandahar",
        "Los insurgentes hicieron estallar una bomba al paso de los vehículos; murieron cuatro soldados.",
        "es",
        "terrorism",
    ),
    (
        "Judge rules on Guantanamo detainee's petition",
        "The Yemeni prisoner, held as an enemy combatant since 2002, asked to see the evidence against him.",
        "en",
        "terrorism",
    ),
    (
        "EU interior ministers discuss asylum transit camps in Libya",
        "The plan would process asylum claims before migrants try to cross the Mediterranean.",
        "en",
        "border_security",
    ),
    (
        "Dozens feared drowned as migrant boat capsizes off Lampedusa",
        "The Italian coast guard pulled 40 survivors from the sea.",
        "en",
        "border_security",
    ),
    (
        "US to demand biometric passports from visa waiver travellers",
        "Visitors whose passports lack a chip will need a visa.",
        "en",
        "border_security",
    ),
    (
        "Renuncia el secretario de Seguridad Interna de Estados Unidos",
        "El funcionario encabezaba la Patrulla Fronteriza y la política migratoria.",
        "es",
        "border_security",
    ),
    (
        "Comando armado embosca a policías estatales en Apatzingán",
        "Hombres armados atacaron una patrulla en la carretera; tres agentes murieron y la Secretaría de Seguridad "
        "Pública desplegó un operativo de seguridad en Tierra Caliente.",
        "es",
        "cartels",
    ),
    (
        "Aseguran 100 kilos de marihuana en Zamora",
        "Militares encontraron los paquetes de marihuana ocultos en una camioneta en un retén.",
        "es",
        "cartels",
    ),
    (
        "Suman 70 homicidios dolosos en Michoacán en mayo",
        "Las ejecuciones se concentran en Uruapan y Apatzingán, donde grupos delictivos se disputan la región.",
        "es",
        "cartels",
    ),
    (
        "Kurdish forces say Isis fighters fled Raqqa suburbs",
        "Residents described months under the militants' rule.",
        "en",
        "terrorism",
    ),
    (
        "Army strikes camps of militants behind attack on pilgrims",
        "The government said the militants had crossed the line of control before the massacre.",
        "en",
        "terrorism",
    ),
    (
        "Dozens missing after boat bound for Europe sinks off Libya",
        "Survivors told the coast guard the boat had left Zuwara with 90 people onboard.",
        "en",
        "border_security",
    ),
    (
        "Arms smuggling ring used farm on the US-Canada border",
        "Police said the firearms were carried across the border at night.",
        "en",
        "border_security",
    ),
    (
        "Ex-premier held in Miami on drug and money laundering charges",
        "Prosecutors say he offered to let cocaine shipments pass through the islands' ports.",
        "en",
        "cartels",
    ),
    (
        "Drug gang turf war leaves four dead in Marseille",
        "Police said the shootings were over control of cannabis dealing points.",
        "en",
        "cartels",
    ),
]


@pytest.mark.parametrize(("title", "text", "lang", "topic"), POSITIVES, ids=[p[0][:40] for p in POSITIVES])
def test_new_positive_kinds_are_found(clf: Classifier, title: str, text: str, lang: str, topic: str) -> None:
    assert topic in rules(title, text, lang)
    assert topic in tagged(clf, title, text, lang)
