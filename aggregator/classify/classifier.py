"""Topic classifier: the rule engine's scores plus a calibrated linear model per topic, saved without pickle."""

from __future__ import annotations

import gc
import json
import logging
import math
import os
import platform
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from aggregator.classify.examples import Example, augment, merge_examples
from aggregator.classify.metrics import metrics
from aggregator.classify.rules import Doc, Hit, RuleEngine, RuleResult, item_text, prepare
from aggregator.classify.subwords import CACHE_WORDS, Shares, SubwordScorer, doc_matrix
from aggregator.classify.subwords import vocabulary as subword_vocabulary
from aggregator.classify.topics import TopicSet
from aggregator.errors import ClassifierError

if TYPE_CHECKING:
    import scipy.sparse as sp
    from sklearn.linear_model import LogisticRegression

# scikit-learn and scipy are imported where a model is trained: predicting needs only numpy, and the crawl process
# should not pay a second (scikit-learn) or a tenth of one (scipy) of start-up for them.

logger = logging.getLogger(__name__)

FORMAT_NAME = "beat-aggregator-classifier"
FORMAT_VERSION = 2  # 2: the sub-word block (a version 1 save is read as a model without it)
MIN_DF = 2
MIN_CLASS = 5  # positives and negatives a topic needs before it gets a model; fewer means rules only
C = 4.0
CV_FOLDS = 5
TOP_FEATURES = 6
SUBWORD_FEATURES = 3  # of them, at most this many words named by their character n-grams
LEAD_WORDS = 60  # words of text after the title that make the "lead"
TIE = 0.005  # F1 within this of the best counts as a tie when choosing a threshold
# The sub-word block's scale against the word block's: 10 measured best on real_dev and eval_dev, in the --cv 5
# simulation too (1 changed nothing, 20 and 30 overfitted the simulation's labels). Balanced class weights were
# tried as well and changed no figure: the Platt calibration and the F1-best threshold already absorb the skew.
SUBWORD_WEIGHT = 10.0

_Rules = tuple[dict[str, RuleResult], dict[str, RuleResult]]  # whole item, title + lead


class Explanation(NamedTuple):
    """Why a topic was (not) given: the rule hits and the model's strongest features for this item."""

    rule_score: float
    rule_threshold: float
    rule_passed: bool
    hits: tuple[Hit, ...]
    ignored: tuple[str, ...]
    # (word, contribution to the model's decision), strongest first; "word [gram]" is the word's character
    # n-grams, named by the one that moved the decision most
    features: tuple[tuple[str, float], ...]
    threshold: float  # the score an item needs for this topic

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form, for storage next to the item (written out field by field: the crawl stores three per
        item, and NamedTuple._asdict twice over cost as much as the JSON encoding)."""
        return {"rule_score": self.rule_score, "rule_threshold": self.rule_threshold, "rule_passed": self.rule_passed,
                "hits": [dict(zip(Hit._fields, h, strict=True)) for h in self.hits], "ignored": list(self.ignored),
                "features": [list(f) for f in self.features], "threshold": self.threshold}  # fmt: skip


class TopicResult(NamedTuple):
    """A calibrated score in [0, 1], the verdict, which method decided, and why."""

    score: float
    passed: bool
    method: str  # "rules" (no model for this topic) | "rules+model" (they agree) | "model" (it overrode the rules)
    explanation: Explanation


def lead_words(doc: Doc) -> list[str]:
    """The words the model reads (as words, stems and character n-grams): those of the title and lead."""
    return doc.title_lower + doc.text_lower[:LEAD_WORDS]


def word_terms(word: str) -> tuple[str, ...]:
    """A lead word's model features: the word and, when longer, its 5-letter stem."""
    # Word pairs were tried and did not help on the seed's cross-validation; 5-letter stems stand in for
    # char n-grams (terrorista/terrorismo, migrantes/migration) at a fraction of the cost.
    return (word, "~" + word[:5]) if len(word) > 5 else (word,)


def doc_terms(doc: Doc) -> list[str]:
    """Model features of an item's title and lead: words, 5-letter stems and title words."""
    return [t for w in lead_words(doc) for t in word_terms(w)] + ["t:" + w for w in doc.title_lower]


def rule_features(rules: Sequence[_Rules], topic_ids: Sequence[str]) -> np.ndarray:
    """Per item and topic, for the lead and the whole text: the rule score's margin to its threshold, and pass."""
    n = len(topic_ids)
    if not rules:
        return np.zeros((0, 4 * n))
    cols = [(k, tid) for k in (1, 0) for tid in topic_ids]  # lead first, then the whole text
    first = rules[0]
    limit = np.array([first[k][tid].threshold if tid in first[k] else 0.0 for k, tid in cols])
    score = np.array([[r[k][tid].score if tid in r[k] else 0.0 for k, tid in cols] for r in rules])
    present = limit > 0  # a topic the model knows but topics.toml no longer has: zeros
    margin = np.where(present, np.tanh(2 * (score - limit) / np.where(present, limit, 1.0)), 0.0)
    passed = (present & (score >= limit)).astype(float)
    return np.hstack([margin[:, :n], passed[:, :n], margin[:, n:], passed[:, n:]])


RULE_FEATURE_NAMES = ("lead score", "lead passed", "score", "passed")


@dataclass
class _Model:
    """Arrays and settings of a trained classifier (everything `save` writes)."""

    vocabulary: dict[str, int]
    idf: np.ndarray
    feature_topics: list[str]
    model_topics: list[str]
    coef: np.ndarray  # (len(model_topics), n_features)
    intercept: np.ndarray
    calibration: np.ndarray  # (len(model_topics), 2): Platt a, b
    thresholds: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)
    ngrams: dict[str, int] = field(default_factory=dict)  # the sub-word block: character n-grams, their idf,
    ngram_idf: np.ndarray = field(default_factory=lambda: np.zeros(0))
    ngram_coef: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # and weights (model_topics, n-grams)


class Classifier:
    """Multi-label topic classifier: `train`, `predict`, `save`, `load`. `Classifier(topics)` is rules only."""

    def __init__(self, topics: TopicSet, model: _Model | None = None) -> None:
        self.topics = topics
        self.engine = RuleEngine(topics)
        self.model = model
        names = sorted(model.vocabulary, key=model.vocabulary.__getitem__) if model is not None else []
        # Readable feature names, indexed by feature id: "terro*" for a stem, "cartel (title)" for a title word.
        self._names = np.array(
            [f"{w[1:]}*" if w[0] == "~" else f"{w[2:]} (title)" if w[:2] == "t:" else w for w in names], dtype=object
        )
        self._subwords = (
            SubwordScorer(model.ngrams, model.ngram_idf, model.ngram_coef) if model and model.ngrams else None
        )
        self._term_ids = _TermIds(model.vocabulary if model else {})

    @property
    def metadata(self) -> dict[str, Any]:
        """When and on what the classifier was trained, its cross-validated metrics, library versions."""
        return dict(self.model.meta) if self.model else {"method": "rules"}

    @classmethod
    def train(cls, examples: Sequence[Example], topics: TopicSet, feedback_weight: float = 2.0) -> Classifier:
        """Learn from labelled examples (seed and feedback); for the same item a reporter's label wins."""
        # scipy here, not at the top: tagging with a saved classifier needs numpy only (see subwords.WordVectors).
        import scipy
        import scipy.sparse as sp

        started = time.perf_counter()
        real, skipped = merge_examples(examples, topics.ids, feedback_weight)
        extra, origin = augment(real, topics.ids)
        rows, groups = real + extra, np.array(list(range(len(real))) + origin, dtype=np.int64)
        engine = RuleEngine(topics)
        docs = [prepare(title, text, lang) for title, text, lang, _, _ in rows]
        rules = [engine.score_with_lead(d, LEAD_WORDS) for d in docs]
        model = _vocabulary(docs, list(topics.ids))
        words = [lead_words(d) for d in docs]
        X = _matrix(model, _TermIds(model.vocabulary).rows(docs, words), rules)
        X = X.csr(len(model.vocabulary) + len(RULE_FEATURE_NAMES) * len(topics.ids))
        model.ngrams, model.ngram_idf = subword_vocabulary(words, MIN_DF)
        n_plain = X.shape[1]
        X = sp.hstack([X, SUBWORD_WEIGHT * doc_matrix(words, model.ngrams, model.ngram_idf)], format="csr")
        X.sort_indices()  # once here: liblinear needs sorted rows, and would sort every fold's copy again
        weights = np.array([row[4] for row in rows])
        fitted: list[tuple[str, np.ndarray, float, tuple[float, float], float]] = []
        counts: dict[str, dict[str, int]] = {}
        gold: dict[str, list[bool]] = {}
        guess: dict[str, list[bool]] = {}
        for tid in topics.ids:
            idx = np.array([i for i, row in enumerate(rows) if tid in row[3]], dtype=np.int64)
            y = np.array([rows[i][3][tid] for i in idx], dtype=bool)
            mine = idx < len(real)  # counts and cross-validated figures: real examples, not augmented copies
            counts[tid] = {"positive": int(y[mine].sum()), "negative": int((~y[mine]).sum())}
            if min(counts[tid].values()) < MIN_CLASS:
                continue  # too few labels of one kind: this topic keeps its rules only
            coef, intercept, platt, threshold, oof = _fit_topic(X[idx], y, weights[idx], groups[idx])
            fitted.append((tid, coef, intercept, platt, threshold))
            gold[tid], guess[tid] = y[mine].tolist(), oof[mine].tolist()
        model.model_topics = [f[0] for f in fitted]
        coef = np.array([f[1] for f in fitted]).reshape(len(fitted), X.shape[1])
        model.coef, model.ngram_coef = coef[:, :n_plain], SUBWORD_WEIGHT * coef[:, n_plain:]
        model.intercept = np.array([f[2] for f in fitted])
        model.calibration = np.array([f[3] for f in fitted]).reshape(len(fitted), 2)
        model.thresholds = np.array([f[4] for f in fitted])
        model.meta = {
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "training_counts": {"items": len(real), "feedback_items": sum(1 for r in real if r[4] != 1.0),
                                "augmented_copies": len(extra), "skipped_labels": skipped, "per_topic": counts},
            "cv_metrics": metrics(gold, guess) if fitted else {},
            "training_seconds": round(time.perf_counter() - started, 2),
            "topics_fingerprint": topics.fingerprint,
            "hyperparameters": {"C": C, "min_df": MIN_DF, "lead_words": LEAD_WORDS, "feedback_weight": feedback_weight,
                                "subword_weight": SUBWORD_WEIGHT},
            "versions": {"python": platform.python_version(), "numpy": np.__version__, "scipy": scipy.__version__,
                         "scikit-learn": _sklearn_version()},
        }  # fmt: skip
        return cls(topics, model)

    def predict(
        self, items: Sequence[Mapping[str, Any] | Any], all_features: bool = False
    ) -> list[dict[str, TopicResult]]:
        """Per item, a TopicResult for every topic of topics.toml (items: mappings or objects with title/text).

        Model features are listed where there is something to explain: the score reached 0.05 or a rule
        matched. `all_features` lists them for clear negatives too (for `aggregator explain`).
        """
        with collector_paused():
            return self._predict(items, all_features)

    def _predict(self, items: Sequence[Mapping[str, Any] | Any], all_features: bool) -> list[dict[str, TopicResult]]:
        docs = [prepare(*item_text(item)) for item in items]
        rules = [self.engine.score_with_lead(d, LEAD_WORDS) for d in docs]
        m = self.model
        learned: dict[str, tuple[list[float], list[tuple[tuple[str, float], ...]], float]] = {}
        if m is not None and m.model_topics and docs:
            words = [lead_words(d) for d in docs]
            X = _matrix(m, self._term_ids.rows(docs, words), rules)  # every row ends with the rule features
            part = m.coef[:, X.cols] * X.data  # each feature's contribution, per topic: also what explains
            raw = np.add.reduceat(part, X.ptr[:-1], axis=1).T + m.intercept
            shares = None
            if self._subwords is not None:
                sub, shares = self._subwords.score(words)
                raw += sub
            z = raw * m.calibration[:, 0] + m.calibration[:, 1]
            probs = np.round(1 / (1 + np.exp(-z)), 4)
            hit = np.array([[tid in r[0] and bool(r[0][tid].hits) for tid in m.model_topics] for r in rules])
            wanted = all_features | hit | (probs >= 0.05)
            tops = self._top_features(X, part, shares, wanted)
            for k, tid in enumerate(m.model_topics):
                learned[tid] = (probs[:, k].tolist(), tops[k], float(m.thresholds[k]))
        out: list[dict[str, TopicResult]] = []
        for i, (results, _) in enumerate(rules):
            row: dict[str, TopicResult] = {}
            for tid, r in results.items():
                if tid in learned:
                    probs_t, feats_t, threshold = learned[tid]
                    score, feats, passed = probs_t[i], feats_t[i], probs_t[i] >= threshold
                    method = "rules+model" if passed == r.passed else "model"
                else:  # no model for this topic yet: its rule score, squashed so the threshold lands on 0.5
                    score = max(0.0, round(r.score / (abs(r.score) + r.threshold), 4))
                    feats, threshold, passed, method = (), 0.5, r.passed, "rules"
                why = Explanation(r.score, r.threshold, r.passed, r.hits, r.ignored, feats, threshold)
                row[tid] = TopicResult(score, passed, method, why)
            out.append(row)
        return out

    def _top_features(
        self, X: _Rows, part: np.ndarray, shares: Shares | None, wanted: np.ndarray
    ) -> list[list[tuple[tuple[str, float], ...]]]:
        """Per topic and row, the features that moved the decision most (either sign), strongest first: words and
        stems, and at most SUBWORD_FEATURES words named by their n-grams; () where the row is not `wanted`."""
        n, n_topics = wanted.shape
        rows = np.repeat(np.arange(n), np.diff(X.ptr))
        # Words only: the rule features' share is what the rule hits already explain.
        words = np.flatnonzero(X.cols < len(self._names))
        # Every topic's entries in one flat array, grouped by (topic, row): group = topic * n + row.
        topic, entry = np.nonzero(wanted[rows[words]].T)
        group, ref, value = topic * n + rows[words][entry], X.cols[words][entry], part[topic, words[entry]]
        if self._subwords is not None and shares is not None:
            s_value = self._subwords.contributions(shares)  # (distinct words of the batch, topics)
            s_topic, s_entry = np.nonzero(wanted[shares.rows].T)
            s_group, s_value = s_topic * n + shares.rows[s_entry], s_value[s_entry, s_topic]
            first = _ranked(s_group, s_value) < SUBWORD_FEATURES
            # Sub-word entries are told apart by negative references (-1 - the word's id).
            group = np.concatenate([group, s_group[first]])
            ref = np.concatenate([ref, -1 - shares.words[s_entry[first]]])
            value = np.concatenate([value, s_value[first]])
        strong = np.flatnonzero(np.round(value, 3) != 0)  # ranked by exact value, shown to 3 places
        group, ref, value = group[strong], ref[strong], value[strong]
        rank = _ranked(group, value)
        top = np.flatnonzero(rank < TOP_FEATURES)
        top = top[np.argsort(group[top] * TOP_FEATURES + rank[top])]
        group, ref, value = group[top], ref[top], np.round(value[top], 3).tolist()
        is_word = ref >= 0
        names = self._names[ref[is_word]].tolist()
        if not is_word.all():
            assert self._subwords is not None
            labels = self._subwords.labels
            sub = iter([labels[t][-1 - j] for t, j in zip((group[~is_word] // n).tolist(), ref[~is_word].tolist(),
                                                                strict=True)])  # fmt: skip
            word_names = iter(names)
            names = [next(word_names) if w else next(sub) for w in is_word.tolist()]
        pairs = list(zip(names, value, strict=True))
        bounds = np.searchsorted(group, np.arange(n_topics * n + 1)).tolist()
        return [[tuple(pairs[bounds[g] : bounds[g + 1]]) for g in range(k * n, (k + 1) * n)] for k in range(n_topics)]

    def save(self, path: str | Path) -> None:
        """Write the classifier to directory `path`: classifier.json (metadata, vocabulary) + arrays.npz."""
        m = self.model
        if m is None:
            raise ClassifierError("classifier: nothing to save, this classifier has not been trained")
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        meta = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, **m.meta,
                "feature_topics": m.feature_topics, "model_topics": m.model_topics,
                "vocabulary": sorted(m.vocabulary, key=m.vocabulary.__getitem__),
                "ngrams": sorted(m.ngrams, key=m.ngrams.__getitem__)}  # fmt: skip
        with open(path / "arrays.npz.tmp", "wb") as fh:
            np.savez_compressed(fh, idf=m.idf, coef=m.coef, intercept=m.intercept, calibration=m.calibration,
                                thresholds=m.thresholds, ngram_idf=m.ngram_idf, ngram_coef=m.ngram_coef)  # fmt: skip
        (path / "classifier.json.tmp").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        os.replace(path / "arrays.npz.tmp", path / "arrays.npz")
        os.replace(path / "classifier.json.tmp", path / "classifier.json")

    @classmethod
    def load(cls, path: str | Path, topics: TopicSet) -> Classifier:
        """Read a classifier written by `save`; refuses an unknown, newer or damaged format (ClassifierError)."""
        path = Path(path)
        where = f"classifier: {path}"
        try:
            meta = json.loads((path / "classifier.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ClassifierError(f"{where}: no saved classifier here (run `aggregator train`)") from None
        except (OSError, ValueError) as exc:
            raise ClassifierError(f"{where}: classifier.json is unreadable: {exc}") from None
        version = meta.get("format_version") if isinstance(meta, dict) else None
        if not isinstance(version, int) or version < 1 or meta.get("format") != FORMAT_NAME:
            raise ClassifierError(f"{where}: not a classifier saved by this aggregator (unknown format)")
        if version > FORMAT_VERSION:
            raise ClassifierError(f"{where}: format version {version} is newer than this aggregator reads "
                                  f"({FORMAT_VERSION}); upgrade the aggregator or retrain")  # fmt: skip
        try:
            with np.load(path / "arrays.npz", allow_pickle=False) as z:
                arrays = {k: z[k] for k in ("idf", "coef", "intercept", "calibration", "thresholds")}
                subword = (z["ngram_idf"], z["ngram_coef"]) if version >= 2 else (np.zeros(0), np.zeros((0, 0)))
            vocab = {str(t): i for i, t in enumerate(meta["vocabulary"])}
            ngrams = {str(t): i for i, t in enumerate(meta.get("ngrams") or [])}
            topics_ = list(meta["feature_topics"]), list(meta["model_topics"])
            model = _Model(vocab, arrays["idf"], *topics_, arrays["coef"], arrays["intercept"],
                           arrays["calibration"], arrays["thresholds"], {}, ngrams, *subword)  # fmt: skip
        except (OSError, KeyError, TypeError, ValueError) as exc:
            raise ClassifierError(f"{where}: arrays.npz is missing or damaged: {exc}") from None
        n, n_features = len(model.model_topics), len(vocab) + len(RULE_FEATURE_NAMES) * len(model.feature_topics)
        shapes = (model.idf.shape, model.coef.shape, model.intercept.shape, model.calibration.shape)
        subword_shapes = (model.ngram_idf.shape, model.ngram_coef.shape)
        if (shapes != ((len(vocab),), (n, n_features), (n,), (n, 2)) or model.thresholds.shape != (n,)
                or (ngrams and subword_shapes != ((len(ngrams),), (n, len(ngrams))))):  # fmt: skip
            raise ClassifierError(f"{where}: arrays do not match the vocabulary (damaged save)")
        meta_only = {"vocabulary", "feature_topics", "model_topics", "ngrams"}
        model.meta = {k: v for k, v in meta.items() if k not in meta_only}
        if meta.get("topics_fingerprint") != topics.fingerprint:
            logger.warning("%s: trained with a different topics.toml; run `aggregator train` to refresh", where)
        return cls(topics, model)


def _vocabulary(docs: Sequence[Doc], topic_ids: list[str]) -> _Model:
    """An untrained model holding the vocabulary (terms in at least MIN_DF items) and its smoothed idf."""
    df: Counter[str] = Counter()
    for d in docs:
        df.update(set(doc_terms(d)))
    kept = sorted(t for t, n in df.items() if n >= MIN_DF)
    idf = np.array([math.log((1 + len(docs)) / (1 + df[t])) + 1 for t in kept], dtype=np.float64)
    none = np.zeros(0)
    return _Model({t: i for i, t in enumerate(kept)}, idf, topic_ids, [], none.reshape(0, 0), none, none, none)


class _Rows(NamedTuple):
    """Feature rows in CSR layout (data, column indices, row pointers); every row ends with the rule features."""

    data: np.ndarray
    cols: np.ndarray
    ptr: np.ndarray

    def csr(self, n_features: int) -> sp.csr_matrix:
        import scipy.sparse as sp  # training only (see Classifier.train)

        return sp.csr_matrix((self.data, self.cols, self.ptr), shape=(len(self.ptr) - 1, n_features))


class _TermIds:
    """Each word's model-feature ids, as a lead word (`word_terms`) and as a title word, remembered across batches:
    a crawl meets mostly words it has seen."""

    def __init__(self, vocabulary: dict[str, int]) -> None:
        self.vocabulary = vocabulary
        self._lead: dict[str, tuple[int, ...]] = {}
        self._title: dict[str, tuple[int, ...]] = {}

    def rows(self, docs: Sequence[Doc], words: Sequence[list[str]]) -> tuple[list[int], list[int]]:
        """Every item's feature ids (one per occurrence) one item after another, and each item's count of them."""
        lead, title, get = self._lead, self._title, self.vocabulary.get
        new_lead = set(chain.from_iterable(words)).difference(lead)
        new_title = set(chain.from_iterable(d.title_lower for d in docs)).difference(title)
        if len(lead) + len(new_lead) > CACHE_WORDS or len(title) + len(new_title) > CACHE_WORDS:
            lead.clear()
            title.clear()
            return self.rows(docs, words)
        for w in new_lead:
            lead[w] = tuple(i for i in map(get, word_terms(w)) if i is not None)
        for w in new_title:
            i = get("t:" + w)
            title[w] = () if i is None else (i,)
        indices: list[int] = []
        lengths: list[int] = []
        for d, ws in zip(docs, words, strict=True):
            before = len(indices)
            indices.extend(chain.from_iterable(map(lead.__getitem__, ws)))
            indices.extend(chain.from_iterable(map(title.__getitem__, d.title_lower)))
            lengths.append(len(indices) - before)
        return indices, lengths


def _matrix(m: _Model, ids: tuple[list[int], list[int]], rules: Sequence[_Rules]) -> _Rows:
    """TF-IDF rows (sublinear tf, l2-normalised) of the items' feature ids (`_TermIds.rows`) with the rule
    features appended, in plain numpy: scipy's and sklearn's per-call overhead dominated when the crawl tags a few
    items at a time."""
    indices, lengths = ids
    n, v = len(lengths), len(m.vocabulary)
    keys, counts = np.unique(np.repeat(np.arange(n), lengths) * v + np.array(indices, dtype=np.int64),
                             return_counts=True)  # fmt: skip
    row, col = np.divmod(keys, v)
    per_row = np.bincount(row, minlength=n)
    tfidf = (1 + np.log(counts)) * m.idf[col]
    norms = np.sqrt(np.bincount(row, weights=tfidf**2, minlength=n))
    tfidf /= np.where(norms > 0, norms, 1.0)[row]
    extra = rule_features(rules, m.feature_topics)
    r = extra.shape[1]
    ptr = np.concatenate([[0], np.cumsum(per_row + r)])
    data, cols = np.empty(ptr[-1]), np.empty(ptr[-1], dtype=np.int32)
    at = np.arange(len(tfidf)) + row * r
    data[at], cols[at] = tfidf, col
    at = ((ptr[:-1] + per_row)[:, None] + np.arange(r)).ravel()
    data[at], cols[at] = extra.ravel(), np.tile(np.arange(v, v + r, dtype=np.int32), n)
    return _Rows(data, cols, ptr)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cycle collector off for the duration: predicting (and storing the tags) makes no reference cycles,
    only many small tuples and dicts, and without this the collector scanned the classifier's caches, and in the
    crawl all of Scrapy's objects, over and over (15-20% of the tagging time in bench/classify.py, measured with and
    without in turns)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _ranked(row: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Each entry's rank by |value| among the entries of its row (0: the strongest; ties in the given order)."""
    # One sort of row * span - |value|, cheaper than lexsort: span exceeds any |value|, so rows never mix.
    span = 2.0 * float(np.abs(value).max(initial=0.0)) + 1.0
    order = np.argsort(row * span - np.abs(value), kind="stable")
    rank = np.empty(len(row), dtype=np.int64)
    rank[order] = np.arange(len(row)) - np.searchsorted(row[order], row[order])
    return rank


def _fit_topic(
    X: sp.csr_matrix, y: np.ndarray, w: np.ndarray, groups: np.ndarray
) -> tuple[np.ndarray, float, tuple[float, float], float, np.ndarray]:
    """Coefficients, Platt calibration and F1-best threshold from out-of-fold scores, then a fit on all rows."""
    # Folds are drawn over items, and an item's augmented copies follow it, so no copy is scored by a model
    # that saw its original.
    ids, first, inverse = np.unique(groups, return_index=True, return_inverse=True)
    k = min(CV_FOLDS if len(ids) <= 5000 else 3, int(y[first].sum()), int((~y[first]).sum()))
    fold_of = np.zeros(len(ids), dtype=np.int64)
    # scikit-learn is imported where a model is trained, not at the top: tagging with a saved classifier (the crawl,
    # the web app) only needs numpy, and scikit-learn costs a second of start-up.
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    for f, (_, held) in enumerate(StratifiedKFold(k, shuffle=True, random_state=0).split(ids, y[first])):
        fold_of[held] = f
    oof = np.zeros(len(y))
    for f in range(k):
        te = fold_of[inverse] == f
        oof[te] = _lr().fit(X[~te], y[~te], sample_weight=w[~te]).decision_function(X[te])
    platt = LogisticRegression(C=100.0).fit(oof.reshape(-1, 1), y)
    a, b = float(platt.coef_[0, 0]), float(platt.intercept_[0])
    prob = 1 / (1 + np.exp(-(a * oof + b)))
    threshold = _best_threshold(prob, y)
    final = _lr().fit(X, y, sample_weight=w)
    return final.coef_[0], float(final.intercept_[0]), (a, b), threshold, prob >= threshold


def _sklearn_version() -> str:
    import sklearn  # here: see _fit_topic

    return str(sklearn.__version__)


def _lr() -> LogisticRegression:
    from sklearn.linear_model import LogisticRegression  # here: see _fit_topic

    # The dual solver is several times faster here: far more features (words) than rows.
    return LogisticRegression(C=C, solver="liblinear", dual=True, tol=1e-3, max_iter=1000, random_state=0)


def _best_threshold(prob: np.ndarray, y: np.ndarray) -> float:
    """The F1-best threshold (smoothed over neighbours); among near-ties, the one closest to 0.5."""
    grid = np.arange(0.05, 0.951, 0.01)
    f1 = np.array([2 * np.sum((prob >= t) & y) / max(1, np.sum(prob >= t) + np.sum(y)) for t in grid])
    smooth = np.convolve(np.pad(f1, 3, mode="edge"), np.ones(7) / 7, mode="valid")
    near = np.flatnonzero(smooth >= smooth.max() - TIE)
    return float(round(grid[near[np.argmin(np.abs(grid[near] - 0.5))]], 2))
