"""Topic classifier: cold-start and --cv quality on the dev set, hard cases, feedback, persistence, bad input."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from aggregator.classify.classifier import FORMAT_VERSION, Classifier, ClassifierError, TopicResult
from aggregator.classify.evaluation import check_labels, cross_validate, evaluate, folds, learning_curve
from aggregator.classify.examples import Example, examples_from_records, load_records, seed_examples
from aggregator.classify.metrics import metrics
from aggregator.classify.topics import UnknownTopicError, load_topics, parse_topics
from aggregator.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
DEV = REPO / "tests" / "data" / "eval_dev.jsonl"
TOPICS = load_topics(REPO / "config")
# Bars measured on tests/data/eval_dev.jsonl (never trained on); see the figures printed by the tests. With the
# sub-word block (issue #13): cold start 0.962, --cv 5 0.965 (before it: 0.958 and 0.957); with the entertainment and
# animal-migration vetoes 0.965 and 0.965.
COLD_START_MACRO_F1 = 0.95
CV5_MACRO_F1 = 0.95


@pytest.fixture(scope="module")
def seed() -> list[Example]:
    return seed_examples()


@pytest.fixture(scope="module")
def clf(seed: list[Example]) -> Classifier:
    return Classifier.train(seed, TOPICS)


def tagged(clf: Classifier, title: str, text: str = "", lang: str | None = None) -> set[str]:
    return {t for t, r in clf.predict([{"title": title, "text": text, "lang": lang}])[0].items() if r.passed}


def show(name: str, result: dict) -> None:
    per = ", ".join(
        f"{t} P={v['precision']:.3f} R={v['recall']:.3f} F1={v['f1']:.3f}" for t, v in result["per_topic"].items()
    )
    print(f"\n{name}: macro-F1 {result['macro_f1']:.4f}, micro-F1 {result['micro_f1']:.4f} ({per})")


# --- quality -----------------------------------------------------------------------------------------------------


def test_cold_start_quality_on_dev_set(clf: Classifier) -> None:
    records = load_records(DEV)
    result = evaluate(clf, records)
    show("cold start, eval_dev.jsonl", result)
    assert set(result) == {"per_topic", "macro_f1", "micro_f1"}
    assert set(result["per_topic"]) == set(TOPICS.ids)
    assert result["macro_f1"] >= COLD_START_MACRO_F1
    assert all(v["f1"] >= 0.9 for v in result["per_topic"].values())
    rules_only = evaluate(Classifier(TOPICS), records)
    show("rules alone, eval_dev.jsonl", rules_only)
    assert result["macro_f1"] > rules_only["macro_f1"]
    json.dumps(result)


def test_cv5_simulation_quality(seed: list[Example]) -> None:
    result = cross_validate(load_records(DEV), TOPICS, seed, k=5)
    show("--cv 5, eval_dev.jsonl", result)
    assert result["macro_f1"] >= CV5_MACRO_F1
    assert sum(v["support"] for v in result["per_topic"].values()) == sum(len(r["labels"]) for r in load_records(DEV))


def test_cross_validated_metadata(clf: Classifier) -> None:
    meta = clf.metadata
    assert meta["cv_metrics"]["macro_f1"] > 0.9
    assert meta["training_counts"]["items"] == len(seed_examples())  # every seed example, no label yet
    assert meta["training_counts"]["per_topic"]["cartels"]["positive"] > 100
    assert {"python", "numpy", "scipy", "scikit-learn"} <= set(meta["versions"])
    assert meta["created_at"] and meta["topics_fingerprint"] == TOPICS.fingerprint


# --- the hard cases, aliases, explanations ---------------------------------------------------------------

HARD = [
    ("OPEC+ ministers agree to deepen oil output cuts", "The cartel will remove a million barrels a day.", set()),
    ("Regulator fines three dairy firms for running a milk price cartel",
     "The companies agreed wholesale prices for six years, the competition authority said.", set()),
    ("La Cofece multa a farmacéuticas por cártel en licitaciones del IMSS", "Se repartieron contratos.", set()),
    ("Bad Bunny y Karol G encabezan el cartel del festival de Monterrey", "Revelaron el cartel completo.", set()),
    ("El cartel de la Feria de Abril ya luce en las calles de Sevilla", "El pintor presentó la obra.", set()),
    ("Sicarios asesinan a cinco personas en un palenque de Guanajuato",
     "Un grupo armado disparó contra los asistentes; la fiscalía investiga la disputa por la plaza.", {"cartels"}),
    ("Autodefensas de Tierra Caliente denuncian ataques con drones",
     "Los pobladores acusan al crimen organizado de lanzar explosivos sobre sus huertas.", {"cartels"}),
    ("Gunmen kill six at a car wash in Culiacán",
     "Officials blamed rival factions fighting for control of drug routes.", {"cartels"}),
    ("Terror en el Azteca: el América cae 4-1 ante Pachuca", "Los Tuzos golearon en la segunda mitad.", set()),
    ("Horror film tops the weekend box office", "The terror sequel earned 40 million dollars.", set()),
    ("Suicide bomber kills 12 at checkpoint in northern Nigeria", "Boko Haram claimed responsibility.",
     {"terrorism"}),
    ("Border collie wins best in show at Crufts", "The six-year-old dog beat 200 rivals.", set()),
    ("Cross-border payments startup raises 40 million dollars", "The fintech pays suppliers abroad.", set()),
    ("Médicos Sin Fronteras abre una clínica en Haití", "Atenderá a 3.000 pacientes al mes.", set()),
    ("US designates Sinaloa Cartel and CJNG as foreign terrorist organisations",
     "The State Department said prosecutors can bring material support charges.", {"cartels", "terrorism"}),
    ("Estados Unidos designa al Cártel del Golfo como organización terrorista extranjera",
     "La medida permite congelar bienes.", {"cartels", "terrorism"}),
    ("CJNG ataca a policías estatales en Jalisco", "", {"cartels"}),
    ("Gulf Cartel leader extradited to Texas", "", {"cartels"}),
    ("Hizbulla lanza cohetes contra el norte de Israel", "", {"terrorism"}),
]  # fmt: skip


@pytest.mark.parametrize(("title", "text", "expected"), HARD)
def test_hard_cases(clf: Classifier, title: str, text: str, expected: set[str]) -> None:
    assert tagged(clf, title, text) == expected


def test_results_are_calibrated_and_explained(clf: Classifier) -> None:
    [result] = clf.predict([{"title": "CJNG ataca a policías estatales en Jalisco", "lang": "es"}])
    assert set(result) == set(TOPICS.ids)
    for r in result.values():
        assert isinstance(r, TopicResult) and 0.0 <= r.score <= 1.0
        assert r.method in {"rules", "model", "rules+model"} and r.passed == (r.score >= r.explanation.threshold)
    cartels = result["cartels"]
    assert cartels.method == "rules+model" and cartels.score > 0.9
    assert [(h.kind, h.ref) for h in cartels.explanation.hits] == [("alias", "cjng")]
    assert cartels.explanation.features and all(isinstance(w, float) for _, w in cartels.explanation.features)
    json.dumps(cartels.explanation.as_dict())
    full = clf.predict([{"title": "Lunar eclipse tonight"}], all_features=True)[0]["terrorism"]
    assert full.explanation.features  # clear negatives are explained on request


# --- feedback ----------------------------------------------------------------------------------------------------


def test_feedback_yes_no_and_unknown_topics(seed: list[Example], clf: Classifier) -> None:
    item = ("Armed group burns trucks on highway in Michoacán", "Traffic was blocked for hours.")
    before = clf.predict([{"title": item[0], "text": item[1]}])[0]["cartels"].score
    feedback = [Example.label(*item, topic="cartels", yes=False), Example.label("x", "y", topic="fentanil", yes=True)]
    retrained = Classifier.train(seed + feedback, TOPICS)
    after = retrained.predict([{"title": item[0], "text": item[1]}])[0]["cartels"].score
    assert after < before
    counts = retrained.metadata["training_counts"]
    assert counts["feedback_items"] == 1 and counts["skipped_labels"] == 1
    # a "no" for cartels says nothing about the other topics
    cold = clf.metadata["training_counts"]["per_topic"]
    assert counts["per_topic"]["terrorism"] == cold["terrorism"]
    assert counts["per_topic"]["cartels"]["negative"] == cold["cartels"]["negative"] + 1


def test_a_topic_added_by_config_only_is_tagged_by_its_rules(seed: list[Example]) -> None:
    extra = """
[[topic]]
id = "fentanyl"
label = "Fentanyl"
[topic.aliases]
fentanyl = ["fentanyl", "fentanilo"]
"""
    topics = parse_topics((REPO / "config" / "topics.toml").read_text(encoding="utf-8") + extra, Path("t.toml"))
    trained = Classifier.train(seed, topics)
    assert trained.model is not None and "fentanyl" not in trained.model.model_topics  # no labels yet
    [result] = trained.predict([{"title": "Aseguran 40 kilos de fentanilo en Sinaloa"}])
    assert result["fentanyl"].passed and result["fentanyl"].method == "rules"
    assert result["cartels"].method != "rules"
    assert check_labels([{"labels": ["fentanyl"]}], topics) == ["fentanyl"]
    with pytest.raises(UnknownTopicError, match="record #1"):
        check_labels([{"labels": ["fentanil"]}], topics)


# --- persistence -------------------------------------------------------------------------------------------------


def test_save_load_round_trip(clf: Classifier, tmp_path: Path) -> None:
    clf.save(tmp_path / "model")
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == ["arrays.npz", "classifier.json"]
    loaded = Classifier.load(tmp_path / "model", TOPICS)
    records = load_records(DEV)[:80]
    assert loaded.predict(records) == clf.predict(records)
    assert loaded.metadata["cv_metrics"] == clf.metadata["cv_metrics"]
    with np.load(tmp_path / "model" / "arrays.npz", allow_pickle=False) as arrays:  # plain arrays, no pickle
        assert all(arrays[k].dtype != object for k in arrays.files)


def test_training_is_reproducible_and_a_batch_is_tagged_as_its_items_one_by_one(
    seed: list[Example], clf: Classifier
) -> None:
    again = Classifier.train(seed, TOPICS)
    assert again.model is not None and clf.model is not None
    assert np.array_equal(again.model.coef, clf.model.coef)  # liblinear is seeded: the same labels, the same model
    assert np.array_equal(again.model.thresholds, clf.model.thresholds)
    records = load_records(DEV)[:60]
    batch = clf.predict(records)
    assert any(r.explanation.features for row in batch for r in row.values())
    # Explanations are ranked for the whole batch at once: no item may borrow another's features or order.
    assert batch == [clf.predict([record])[0] for record in records]
    assert batch[5:9] == clf.predict(records[5:9])


def test_load_refuses_newer_unknown_and_damaged_files(clf: Classifier, tmp_path: Path) -> None:
    clf.save(tmp_path)
    meta_path = tmp_path / "classifier.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta_path.write_text(json.dumps({**meta, "format_version": FORMAT_VERSION + 1}), encoding="utf-8")
    with pytest.raises(ClassifierError, match=f"format version {FORMAT_VERSION + 1} is newer"):
        Classifier.load(tmp_path, TOPICS)
    meta_path.write_text(json.dumps({**meta, "format": "pickle"}), encoding="utf-8")
    with pytest.raises(ClassifierError, match="unknown format"):
        Classifier.load(tmp_path, TOPICS)
    meta_path.write_text(json.dumps({**meta, "vocabulary": meta["vocabulary"][:-5]}), encoding="utf-8")
    with pytest.raises(ClassifierError, match="do not match"):
        Classifier.load(tmp_path, TOPICS)
    meta_path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ClassifierError, match="unreadable"):
        Classifier.load(tmp_path, TOPICS)
    with pytest.raises(ClassifierError, match="no saved classifier"):
        Classifier.load(tmp_path / "missing", TOPICS)
    with pytest.raises(ClassifierError, match="nothing to save"):
        Classifier(TOPICS).save(tmp_path / "rules")


# --- bad input and the evaluation helpers ------------------------------------------------------------------------


@dataclass
class _EntryLike:
    title: str
    summary_html: str
    language: str | None


def test_bad_input_never_crashes(clf: Classifier) -> None:
    assert clf.predict([]) == []
    items: list[object] = [
        {},
        {"title": None, "text": None},
        {"title": 42, "text": ["not", "text"]},
        {"title": "Sicarios atacan", "summary": "<p>Un <b>grupo armado</b> atacó a policías</p>", "lang": "es"},
        {"title": "Budget news", "text": "Markets were calm. " * 200_000, "lang": "zz"},
        _EntryLike("Ataque del CJNG", "<p>El <em>cártel</em> atacó.</p>", "es-MX"),
    ]
    results = clf.predict(items)
    assert len(results) == len(items)
    assert not any(r.passed for r in results[0].values()) and not any(r.passed for r in results[4].values())
    assert results[3]["cartels"].passed and results[5]["cartels"].passed
    assert all(not math.isnan(r.score) for row in results for r in row.values())


def test_metrics_and_folds() -> None:
    gold = {"a": [True, True, False, False], "b": [False, False, False, True]}
    pred = {"a": [True, False, True, False], "b": [False, False, False, True]}
    result = metrics(gold, pred)
    assert result["per_topic"]["a"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert result["per_topic"]["b"]["f1"] == 1.0 and result["macro_f1"] == 0.75
    assert result["micro_f1"] == round(2 * 2 / (2 * 2 + 1 + 1), 4)
    records = [{"labels": ["a"] if i % 3 else []} for i in range(20)]
    split = folds(records, 5)
    assert sorted(i for f in split for i in f) == list(range(20)) and {len(f) for f in split} == {4}
    with pytest.raises(ValueError, match="--cv needs"):
        folds(records, 1)


def test_load_records_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"title": "ok", "labels": []}\n\n{"title": "x", "labels": "cartels"}\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="line 3: field 'labels'"):
        load_records(path)
    path.write_text('{"title": "ok", "labels": []}\n{oops\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="line 2: not JSON"):
        load_records(path)
    assert len(examples_from_records([{"title": "t", "labels": ["cartels"]}])) == 1


# --- sub-word features and the learning curve (issue #13) ---------------------------------------------------------


def test_sub_words_reach_unseen_word_forms_and_are_explained(clf: Classifier) -> None:
    result = clf.predict([{"title": "Narcoterroristas atacan instalaciones", "text": "", "lang": "es"}])[0]
    names = [name for name, _ in result["terrorism"].explanation.features]
    parts = [n for n in names if "[" in n]
    assert parts, names  # a word never seen whole is scored, and named, by its character n-grams
    word, gram = parts[0].rstrip("]").split(" [")
    assert gram in f" {word} " and word in {"narcoterroristas", "atacan", "instalaciones"}
    # The sub-word block moves the score: without it the same item scores otherwise.
    assert clf._subwords is not None
    block, _ = clf._subwords.score([["narcoterroristas", "atacan", "instalaciones"]])
    assert abs(float(block[0, clf.model.model_topics.index("terrorism")])) > 0.01  # type: ignore[union-attr]


def test_word_vectors_are_the_tf_idf_of_each_words_n_grams_and_tagging_needs_no_scipy(
    clf: Classifier, tmp_path: Path
) -> None:
    from aggregator.classify.subwords import char_ngrams, counted, word_vectors

    # By the definition, in dense numpy: counts of each known n-gram in the word, times idf, l2-normalised.
    words = ["banana", "ananás", "narcoterroristas", "at", "1234", "", "x" * 40, "qqqq"]
    grams = sorted({g for w in words[:4] for g in char_ngrams(w)})
    index = {g: i for i, g in enumerate(grams)}
    idf = np.linspace(1.0, 3.0, len(grams))
    want = np.zeros((len(words), len(grams)))
    for row, word in enumerate(words):
        for g in char_ngrams(word) if counted(word) else []:
            if g in index:
                want[row, index[g]] += idf[index[g]]
        norm = np.linalg.norm(want[row])
        want[row] = want[row] / norm if norm else want[row]
    vectors = word_vectors(words, index, idf)
    assert np.allclose(vectors.csr().toarray(), want, rtol=0, atol=1e-12)
    assert vectors.csr().has_sorted_indices and vectors.data.size == np.count_nonzero(want)
    dense = np.arange(len(grams) * 3, dtype=float).reshape(len(grams), 3)
    assert np.allclose(vectors.times(dense), want @ dense, rtol=0, atol=1e-9)

    # Tagging with a saved classifier imports neither scipy nor scikit-learn: a crawl process pays for numpy only.
    clf.save(tmp_path)
    script = (
        "import sys\n"
        "from aggregator.classify.classifier import Classifier\n"
        "from pathlib import Path\n"
        "from aggregator.classify.topics import load_topics\n"
        f"c = Classifier.load(Path({str(tmp_path)!r}), load_topics(Path({str(REPO / 'config')!r})))\n"
        "r = c.predict([{'title': 'Narcoterroristas atacan instalaciones', 'text': 'zzyzx quórum', 'lang': 'es'}])\n"
        "print(sorted(m for m in ('scipy', 'sklearn') if m in sys.modules), r[0]['terrorism'].passed)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    want_passed = clf.predict([{"title": "Narcoterroristas atacan instalaciones", "text": "zzyzx quórum",
                                "lang": "es"}])[0]["terrorism"].passed  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["[]", str(want_passed)]


def test_a_version_1_save_loads_without_the_sub_word_block(clf: Classifier, tmp_path: Path) -> None:
    clf.save(tmp_path)
    meta = json.loads((tmp_path / "classifier.json").read_text(encoding="utf-8"))
    meta["format_version"] = 1
    del meta["ngrams"]
    (tmp_path / "classifier.json").write_text(json.dumps(meta), encoding="utf-8")
    old = Classifier.load(tmp_path, TOPICS)
    assert old._subwords is None and old.model is not None and not old.model.ngrams
    scored = old.predict([{"title": "Cartel gunmen ambush police convoy in Sinaloa"}])[0]
    assert 0.0 <= scored["cartels"].score <= 1.0
    assert not any("[" in name for name, _ in scored["cartels"].explanation.features)


def test_learning_curve_has_a_point_per_step_for_both_strategies(seed: list[Example]) -> None:
    records = load_records(DEV)[::2]
    curve = learning_curve(records, TOPICS, seed, k=2, step=40, most=80)
    print(f"\nlearning curve, half of eval_dev.jsonl, 2 folds: {curve['points']}")
    assert [p["labels"] for p in curve["points"]] == [0, 40, 80]
    first = curve["points"][0]
    assert first["uncertainty"] == first["random"] > 0.8  # both start from the seed alone
    assert all(0.0 <= p[s] <= 1.0 for p in curve["points"] for s in ("uncertainty", "random"))
