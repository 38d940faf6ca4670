"""Sub-word model features: each word's character 3-5-grams (within the word), averaged over an item's words."""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import chain
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

if TYPE_CHECKING:
    import scipy.sparse as sp

SIZES = (3, 4, 5)
MAX_WORD = 24  # longer "words" (URLs, glued tokens) are cut: their tail says nothing a 5-gram could
CACHE_WORDS = 200_000  # words a classifier remembers the scores of; past that it starts afresh


def char_ngrams(word: str) -> list[str]:
    """The word's character n-grams of SIZES, padded with a space at each end (scikit-learn's `char_wb`)."""
    padded = f" {word[:MAX_WORD]} "
    return [padded[i : i + n] for n in SIZES for i in range(len(padded) - n + 1)]


MIN_WORD = 4


def counted(word: str) -> bool:
    """Whether the word's n-grams count: MIN_WORD letters or more. Shorter words are whole-word features already
    (and "at", "una" would be learnt as topic words); numbers and dates would only teach the calendar."""
    return len(word) >= MIN_WORD and not word.isdigit()


class WordVectors(NamedTuple):
    """Words' n-gram vectors in CSR layout, in plain numpy: tagging (which meets new words in every crawl) never
    imports scipy, which costs a crawl process a tenth of a CPU second; training takes them as a scipy matrix."""

    data: np.ndarray
    indices: np.ndarray
    indptr: np.ndarray
    n_grams: int

    def csr(self) -> sp.csr_matrix:
        import scipy.sparse as sp  # training only (see the class)

        return sp.csr_matrix((self.data, self.indices, self.indptr), shape=(len(self.indptr) - 1, self.n_grams))

    def times(self, dense: np.ndarray) -> np.ndarray:
        """This matrix times `dense` (n_grams, k): (words, k)."""
        out = np.zeros((len(self.indptr) - 1, dense.shape[1]))
        starts, full = self.indptr[:-1], np.diff(self.indptr) > 0  # reduceat would give an empty row its neighbour's
        if full.any():
            out[full] = np.add.reduceat(self.data[:, None] * dense[self.indices], starts[full], axis=0)
        return out


def word_vectors(words: Sequence[str], ngrams: dict[str, int], idf: np.ndarray) -> WordVectors:
    """Per word, its known n-grams' tf-idf, l2-normalised: (len(words), len(ngrams)); a word with none, or one
    that is not `counted`, is zeros."""
    get = ngrams.get
    cols: list[int] = []
    lengths: list[int] = []
    for w in words:
        found = [i for i in map(get, char_ngrams(w)) if i is not None] if counted(w) else []
        cols.extend(found)
        lengths.append(len(found))
    rows = np.repeat(np.arange(len(words), dtype=np.int64), lengths)
    # An n-gram met twice in a word ("ana" in "banana") is one entry of count 2, entries in column order.
    span = max(1, len(ngrams))
    keys, counts = np.unique(rows * span + np.array(cols, dtype=np.int64), return_counts=True)
    row, col = np.divmod(keys, span)
    data = counts * idf[col]
    norms = np.sqrt(np.bincount(row, weights=data * data, minlength=len(words)))
    data = data * (1 / np.where(norms > 0, norms, 1.0))[row]
    indptr = np.concatenate([[0], np.cumsum(np.bincount(row, minlength=len(words)))]).astype(np.int64)
    return WordVectors(data, col, indptr, len(ngrams))


def vocabulary(docs: Sequence[Sequence[str]], min_df: int) -> tuple[dict[str, int], np.ndarray]:
    """The n-grams found in at least `min_df` items (their words as given), with their smoothed idf."""
    import scipy.sparse as sp  # training only (see WordVectors)

    types = sorted({w for d in docs for w in d})
    grams = sorted({g for w in types if counted(w) for g in char_ngrams(w)})
    index = {g: i for i, g in enumerate(grams)}
    in_word = word_vectors(types, index, np.ones(len(grams))).csr()
    in_word.data[:] = 1.0
    present = sp.csr_matrix(_mean_rows(docs, {w: i for i, w in enumerate(types)}) @ in_word)
    df = np.bincount(present.indices, minlength=len(grams))
    kept = [g for g, n in zip(grams, df, strict=True) if n >= min_df]
    idf = np.array([math.log((1 + len(docs)) / (1 + df[index[g]])) + 1 for g in kept], dtype=np.float64)
    return {g: i for i, g in enumerate(kept)}, idf


def doc_matrix(docs: Sequence[Sequence[str]], ngrams: dict[str, int], idf: np.ndarray) -> sp.csr_matrix:
    """Per item, the mean of its words' n-gram vectors (as fastText averages sub-word vectors); words that are
    not `counted` count as zeros."""
    import scipy.sparse as sp  # training only (see WordVectors)

    types = sorted({w for d in docs for w in d})
    vectors = word_vectors(types, ngrams, idf).csr()
    return sp.csr_matrix(_mean_rows(docs, {w: i for i, w in enumerate(types)}) @ vectors)


def _mean_rows(docs: Sequence[Sequence[str]], index: dict[str, int]) -> sp.csr_matrix:
    """(items, word types): each word's share of the item's words."""
    import scipy.sparse as sp  # training only (see WordVectors)

    lengths = np.array([len(d) for d in docs])
    cols = np.array([index[w] for d in docs for w in d], dtype=np.int64)
    rows = np.repeat(np.arange(len(docs)), lengths)
    share = 1 / np.repeat(np.maximum(lengths, 1), lengths)
    m = sp.csr_matrix((share, (rows, cols)), shape=(len(docs), len(index)))
    m.sum_duplicates()
    return m


class SubwordScorer:
    """A trained sub-word block: per item and topic its share of the model's score, and the words that gave it.

    A linear model of averaged word vectors scores an item as the mean of its words' scores, so each word is
    scored once (then remembered) and an item costs one look-up per word.
    """

    def __init__(self, ngrams: dict[str, int], idf: np.ndarray, coef: np.ndarray) -> None:
        self.ngrams, self.idf, self.coef = ngrams, idf, coef  # coef: (topics, n-grams)
        self.names = sorted(ngrams, key=ngrams.__getitem__)
        self._clear()

    def _clear(self) -> None:
        self._index: dict[str, int] = {}
        self._words: list[str] = []
        self._scores = np.zeros((0, self.coef.shape[0]))
        self.labels: list[list[str]] = [[] for _ in range(self.coef.shape[0])]  # per topic: "word [n-gram]"

    def _learn(self, words: set[str]) -> None:
        new = sorted(words)
        u = word_vectors(new, self.ngrams, self.idf)
        start, end = len(self._words), len(self._words) + len(new)
        if end > len(self._scores):  # room for twice as many: a crawl meets a few new words per batch
            grow = max(end * 2, 1024) - len(self._scores)
            self._scores = np.vstack([self._scores, np.zeros((grow, self.coef.shape[0]))])
        self._scores[start:end] = u.times(self.coef.T)
        lengths = np.diff(u.indptr)
        rows = np.repeat(np.arange(len(new)), lengths)
        names = self.names
        for k in range(self.coef.shape[0]):
            part = np.abs(u.data * self.coef[k, u.indices])
            order = np.lexsort((-part, rows))  # by word, strongest n-gram first
            best = np.full(len(new), -1)
            best[lengths > 0] = u.indices[order[u.indptr[:-1][lengths > 0]]]
            self.labels[k] += [
                f"{w} [{names[b].strip()}]" if b >= 0 else w for w, b in zip(new, best.tolist(), strict=True)
            ]
        self._index.update(zip(new, range(start, end), strict=True))
        self._words += new

    def score(self, docs: Sequence[Sequence[str]]) -> tuple[np.ndarray, Shares]:
        """(items, topics) scores, and each item's distinct words with their shares (what `top_words` reads)."""
        words = set(chain.from_iterable(docs))
        unseen = words.difference(self._index)
        if unseen:
            if len(self._words) + len(unseen) > CACHE_WORDS:
                self._clear()
                unseen = words
            self._learn(unseen)
        ids = np.array(list(map(self._index.__getitem__, chain.from_iterable(docs))), dtype=np.int64)
        lengths = np.array(list(map(len, docs)), dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        total = np.zeros((len(docs), self.coef.shape[0]))
        full = lengths > 0  # reduceat would give an empty item its neighbour's first word
        if full.any():
            total[full] = np.add.reduceat(self._scores[ids], starts[full], axis=0) / lengths[full, None]
        span = max(1, len(self._words))
        keys, counts = np.unique(np.repeat(np.arange(len(docs)), lengths) * span + ids, return_counts=True)
        row, word = np.divmod(keys, span)
        return total, Shares(row, word, counts / lengths[row])

    def contributions(self, shares: Shares) -> np.ndarray:
        """Each of `shares`' (item, word) pairs' share of every topic's score: (pairs, topics); `labels[k]` names
        the words."""
        return self._scores[shares.words] * shares.weights[:, None]


class Shares(NamedTuple):
    """An item batch's distinct words per item: item rows, word-table ids and the word's share of the item's words."""

    rows: np.ndarray
    words: np.ndarray
    weights: np.ndarray
