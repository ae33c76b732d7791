"""Input drift: is the mix of questions changing? Told apart from a change in how the model answers.

Each question becomes a hashed n-gram vector (stemmed content words and adjacent word pairs, hashed
into ``DIMS`` buckets, unit length): no model, no vocabulary to keep, and no question text is held,
only the vectors. Two windows of questions are compared by the squared distance between their mean
vectors (the linear-kernel MMD) with a permutation test, whose p-value is valid for any distribution
of questions: under "nothing changed" it rejects at most ``alpha`` of the time.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from mre.processor.scorers._cache import text_cache
from mre.processor.scorers.text import STOPWORDS, stem, words

DIMS = 128
PERMUTATIONS = 500


def question_vector(question: str, dims: int = DIMS) -> np.ndarray:
    """Hashed unigram (stemmed content word) and bigram (adjacent words) counts, L2-normalised."""
    tokens = words(question)
    features = [stem(w) for w in tokens if w not in STOPWORDS and len(w) > 1]
    features += [f"{a} {b}" for a, b in pairwise(tokens)]
    # Counted in one C call (indexing a numpy array per feature cost a microsecond each).
    buckets = [zlib.crc32(feature.encode()) % dims for feature in features]
    vector = np.bincount(buckets, minlength=dims).astype(np.float32)
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


@text_cache(max_entries=4_096, max_chars=2_000_000)
def stored_vector(question: str) -> np.ndarray:
    """The vector as the drift monitor stores it (float16, read-only), per question text: users ask
    the same questions again, and each is hashed once."""
    vector = question_vector(question).astype(np.float16)
    vector.flags.writeable = False  # shared by every window holding this question
    return vector


@dataclass(frozen=True, slots=True)
class QuestionComparison:
    n_baseline: int
    n_current: int
    p_value: float  # permutation test on the distance between the windows' mean vectors
    distance: float  # 1 - cosine similarity of the mean vectors: 0 is the same mix of questions

    def drifted(self, alpha: float) -> bool:
        return self.p_value < alpha


def compare_questions(
    baseline: np.ndarray, current: np.ndarray, permutations: int = PERMUTATIONS, seed: int = 0
) -> QuestionComparison:
    """``baseline`` and ``current`` are (n, DIMS) arrays of question vectors. The permutations are
    drawn all at once as a 0/1 membership matrix so the test is one matrix product (~40 ms at
    n = 500 per side on one core)."""
    n, m = len(baseline), len(current)
    pooled = np.vstack([baseline, current]).astype(np.float64)  # whatever they are stored as (float16)
    total = pooled.sum(axis=0)
    mean_a, mean_b = pooled[:n].mean(axis=0), pooled[n:].mean(axis=0)
    observed = float(np.sum((mean_b - mean_a) ** 2))
    rng = np.random.default_rng(seed)
    chosen = rng.permuted(np.tile(np.arange(n + m), (permutations, 1)), axis=1)[:, :m]
    membership = np.zeros((permutations, n + m))
    np.put_along_axis(membership, chosen, 1.0, axis=1)
    sums = membership @ pooled
    statistics = np.sum((sums / m - (total - sums) / n) ** 2, axis=1)
    # Floating-point ties (the observed split is among the permutations) count as "as extreme".
    extreme = int(np.sum(statistics >= observed * (1 - 1e-9)))
    denominator = float(np.linalg.norm(mean_a) * np.linalg.norm(mean_b))
    cosine = float(np.dot(mean_a, mean_b)) / denominator if denominator > 0 else 1.0
    return QuestionComparison(n, m, (1 + extreme) / (permutations + 1), max(0.0, 1.0 - cosine))
