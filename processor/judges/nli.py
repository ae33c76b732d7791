"""Bring your own model: a faithfulness judge from a local NLI or cross-encoder model directory.

The user gives a directory: a Hugging Face ``save_pretrained`` layout (``config.json``, weights,
tokenizer files), or the same with a ``model.onnx`` beside them (run by onnxruntime, no torch).
Nothing is fetched: every load is ``local_files_only`` under ``HF_HUB_OFFLINE``, and a path that is
not a directory is refused before transformers could read it as a hub id.

Scoring follows SummaC's zero-shot form: each claim (the offline scorer's claims) is read as the
hypothesis against the context units it aligns to (its best source sentences and the windows around
them, ``_context.SentenceIndex.aligned``) as premises; a claim's support is its best P(entailment);
the value is the mean over claims, and the weakest claim is named. At most ``limits.MAX_JUDGE_PAIRS``
pairs per answer go to the model (the cut is counted), each truncated to ``max_length`` tokens.

Which output is entailment: the ``id2label`` entry that names it (MNLI-style heads, 2 or 3 labels) or
one named consistent/faithful/supported; a single-logit head is read as P(consistent) through a sigmoid
(cross-encoders such as HHEM). A head with neither is refused at load, with its labels, unless
``entailment_label`` says which.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mre.model import Interaction, Score
from mre.processor import limits
from mre.processor.scorers._context import sentence_index
from mre.processor.scorers.faithfulness import claims
from mre.processor.scorers.text import is_abstention

ONNX_FILE = "model.onnx"
_CONSISTENT = ("consistent", "faithful", "supported", "factual")


def entailment_index(id2label: Mapping[int, str], num_labels: int, override: str | int | None = None) -> int | None:
    """The logit that means "the premise bears the claim out"; None for a single-logit head (sigmoid)."""
    labels = {int(i): str(name) for i, name in id2label.items()}
    if isinstance(override, int):
        if not 0 <= override < num_labels:
            raise ValueError(f"entailment label {override} is not one of the model's {num_labels} outputs")
        return override
    if override is not None:
        named = [i for i, name in labels.items() if name.lower() == str(override).lower()]
        if not named:
            raise ValueError(f"no label {override!r} among the model's labels {sorted(labels.values())}")
        return named[0]
    if num_labels == 1:
        return None
    lowered = {i: name.lower() for i, name in labels.items()}
    entail = [i for i, name in lowered.items() if "entail" in name and not name.startswith(("not", "non"))]
    if len(entail) == 1:
        return entail[0]
    consistent = [i for i, name in lowered.items() if name in _CONSISTENT]
    if len(consistent) == 1:
        return consistent[0]
    raise ValueError(
        f"cannot tell which of the labels {sorted(labels.values())} means entailment; "
        "pass entailment_label= (CLI: --nli-entailment-label)"
    )


def _probabilities(logits: np.ndarray, index: int | None) -> np.ndarray:
    logits = np.asarray(logits, dtype=np.float64)
    if index is None:
        return 1.0 / (1.0 + np.exp(-logits.reshape(len(logits), -1)[:, 0]))
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp[:, index] / exp.sum(axis=1)


class NLIJudge:
    """``Interaction -> Score | None`` from a local model directory; loaded once, at construction, so a
    wrong directory or an unreadable head fails when the service starts, not on the first answer."""

    def __init__(
        self,
        model_dir: str | os.PathLike[str],
        *,
        name: str = "faithfulness",
        entailment_label: str | int | None = None,
        max_length: int = 256,
        batch_size: int = 16,
    ) -> None:
        self.path = Path(model_dir)
        if not self.path.is_dir():
            raise ValueError(
                f"{model_dir}: not a directory; the NLI judge loads a model the user keeps locally "
                "(save_pretrained layout, optionally with model.onnx) and never fetches one from a hub"
            )
        self.name = name
        self.max_length = max_length
        self.batch_size = batch_size
        self.calls = 0
        self.pairs = 0
        self.errors = 0
        self._lock = threading.Lock()
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub at run time
        try:
            from transformers import AutoConfig, AutoTokenizer
            from transformers.utils import logging as transformers_logging
        except ImportError as exc:
            raise RuntimeError("the NLI judge needs: pip install 'mre-otel[judges]'") from exc
        transformers_logging.disable_progress_bar()  # a service's log is not a terminal
        config = AutoConfig.from_pretrained(self.path, local_files_only=True)
        self.tokenizer = AutoTokenizer.from_pretrained(self.path, local_files_only=True)
        self.backend = "onnx" if (self.path / ONNX_FILE).is_file() else "transformers"
        self._session: Any = None
        self._model: Any = None
        if self.backend == "onnx":
            import onnxruntime

            self._session = onnxruntime.InferenceSession(str(self.path / ONNX_FILE), providers=["CPUExecutionProvider"])
            self._inputs = {i.name for i in self._session.get_inputs()}
        else:
            from transformers import AutoModelForSequenceClassification

            self._model = AutoModelForSequenceClassification.from_pretrained(self.path, local_files_only=True)
            self._model.eval()
        self.entailment = entailment_index(config.id2label, int(config.num_labels), entailment_label)

    def entailment_probabilities(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """P(entailment) of each (premise, hypothesis) pair, in batches of ``batch_size``."""
        out: list[np.ndarray] = []
        for start in range(0, len(pairs), self.batch_size):
            batch = pairs[start : start + self.batch_size]
            premises, hypotheses = [p for p, _ in batch], [h for _, h in batch]
            with self._lock:
                logits = self._logits(premises, hypotheses)
            out.append(_probabilities(logits, self.entailment))
        return np.concatenate(out) if out else np.zeros(0)

    def _logits(self, premises: list[str], hypotheses: list[str]) -> np.ndarray:
        if self._session is not None:
            encoded = self.tokenizer(
                premises, hypotheses, truncation=True, max_length=self.max_length, padding=True, return_tensors="np"
            )
            feed = {k: np.asarray(v, dtype=np.int64) for k, v in encoded.items() if k in self._inputs}
            return np.asarray(self._session.run(None, feed)[0])
        import torch

        encoded = self.tokenizer(
            premises, hypotheses, truncation=True, max_length=self.max_length, padding=True, return_tensors="pt"
        )
        with torch.inference_mode():
            return self._model(**encoded).logits.float().numpy()

    def __call__(self, interaction: Interaction) -> Score | None:
        answer, contexts = interaction.answer, interaction.contexts
        if answer is None or not contexts or is_abstention(answer):
            return None
        answer_claims = claims(answer)
        # The cheap scorer ran first and counted any cut of this context: the judge reads it uncounted.
        index = sentence_index(contexts)
        if not answer_claims or not index.sentences:
            return None
        per_claim = max(1, limits.MAX_JUDGE_PAIRS // len(answer_claims))
        pairs: list[tuple[str, str]] = []
        owners: list[int] = []
        for k, claim in enumerate(answer_claims):
            premises = [u.text for u in index.aligned(claim, windows=True).units]
            # A claim sharing no word with any sentence may still paraphrase one: read the first few.
            premises = premises or list(index.sentences[:3])
            room = min(per_claim, limits.MAX_JUDGE_PAIRS - len(pairs))
            if len(premises) > room:
                limits.CUTS.record(limits.JUDGE_PAIRS)
            for premise in premises[:room]:
                pairs.append((premise, claim))
                owners.append(k)
        try:
            probabilities = self.entailment_probabilities(pairs)
        except Exception:  # a model that fails on some input gives no verdict; the cascade keeps the cheap one
            with self._lock:
                self.errors += 1
            return None
        with self._lock:
            self.calls += 1
            self.pairs += len(pairs)
        support = np.zeros(len(answer_claims))
        for owner, p in zip(owners, probabilities, strict=True):
            support[owner] = max(support[owner], float(p))
        value = float(support.mean())
        weakest = int(support.argmin())
        return Score(
            self.name,
            value,
            "supported" if value >= 0.85 else ("unsupported" if value < 0.5 else "partially_supported"),
            f"weakest claim {answer_claims[weakest][:80]!r} (P(entailment) {support[weakest]:.2f} "
            "from its best context unit)",
            {
                "judge": "nli",
                "model": self.path.name,
                "backend": self.backend,
                "support": [round(float(s), 4) for s in support],
                "pairs": len(pairs),
            },
        )
