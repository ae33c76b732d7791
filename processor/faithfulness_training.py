"""`python -m mre.processor.faithfulness_training [DATA_DIR] [--write]`: fit the faithfulness model over
the human-labelled files of ``shared/data``, measure it leaving one file out (train on the others,
evaluate on it) beside the unsupported-word baseline, and with ``--write`` commit its coefficients to
``processor/scorers/faithfulness_model.json`` (what the scorer reads).

Three steps, each deterministic (fixed steps, no random start):
1. a logistic regression over the evidence, in which each training file weighs the same and, within
   it, each class half (so no file's size or base rate decides the ranking), its weights held
   non-positive (evidence against an answer can only lower its estimate);
2. Platt scaling of that logit on the pooled rows, each file weighing the same, so the value reads as
   P(faithful) on a file of the mix rather than on the base rate of the largest (leaving each file
   out, the pooled calibration error on the dev pack is 0.094 this way, 0.120 with rows unweighted);
3. a fixed factor for contradictions the structured checks find (``faithfulness.contradicts``),
   a prior rather than a fit: they are too rare in the labelled data to learn from.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mre.processor.baselines import BASELINES
from mre.processor.offline import read_examples
from mre.processor.scorers._context import sentence_index
from mre.processor.scorers.faithfulness import answer_evidence, claim_verdicts, contradicts
from mre.processor.scorers.faithfulness_evidence import FEATURES
from mre.processor.scorers.faithfulness_model import MODEL_PATH, FaithfulnessModel
from mre.processor.stats import auroc, reliability

FILES: tuple[str, ...] = (
    "faithfulness_dev/begin_dev.jsonl",
    "faithfulness_dev/summac_frank_cnndm_val.jsonl",
    "faithfulness_dev/summac_frank_xsum_val.jsonl",
    "faithfulness_dev/summac_xsumfaith_dev.jsonl",
    "faithfulness_dev/summedits_dev.jsonl",
    "halueval_qa_dev.jsonl",
)
DEV_PACK = tuple(f for f in FILES if f.startswith("faithfulness_dev/"))  # the mean #17 sets a bar for
STEPS, RATE, L2 = 300, 5.0, 1.0
PLATT_STEPS = 50
CONTRADICTION_FACTOR = 0.2
DIGITS = 12  # coefficients are rounded in the file, so the file is the same on every machine


@dataclass(frozen=True)
class Labelled:
    """One file's labelled rows: evidence, labels, contradiction flags and the baseline's values."""

    x: np.ndarray
    y: np.ndarray
    contradicted: np.ndarray
    baseline: np.ndarray


def load(path: Path) -> Labelled:
    with path.open(encoding="utf-8") as fh:
        examples, _ = read_examples(fh)
    labelled = [e for e in examples if e.faithful is not None]
    rows, flags = [], []
    for e in labelled:
        answer, contexts = e.interaction.answer or "", tuple(e.interaction.contexts or ())
        index = sentence_index(contexts)
        rows.append(answer_evidence(answer, index))  # what the scorer reads
        flags.append(any(contradicts(v) for v in claim_verdicts(answer, index)))
    return Labelled(
        x=np.array(rows, float).reshape(-1, len(FEATURES)),
        y=np.array([1.0 if e.faithful else 0.0 for e in labelled]),
        contradicted=np.array(flags, bool),
        baseline=np.array([BASELINES["unsupported_words"](e.interaction) for e in labelled], float),
    )


def balanced_weights(y: np.ndarray) -> np.ndarray:
    pos = max(float(y.sum()), 1.0)
    neg = max(float((1 - y).sum()), 1.0)
    return np.where(y == 1, 0.5 / pos, 0.5 / neg)


def fit(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, scale, weights with the intercept last) by projected gradient descent."""
    mu, sd = x.mean(0), x.std(0) + 1e-9
    z = np.hstack([(x - mu) / sd, np.ones((len(x), 1))])
    coef = np.zeros(z.shape[1])
    for _ in range(STEPS):
        p = 1 / (1 + np.exp(-z @ coef))
        grad = z.T @ ((p - y) * w) / w.sum() + L2 * np.r_[coef[:-1], 0] / len(y)
        coef -= RATE * grad
        coef[:-1] = np.minimum(coef[:-1], 0.0)  # evidence against never raises the estimate
    return mu, sd, coef


def file_weights(files: Sequence[Labelled]) -> np.ndarray:
    """Row weights under which each file weighs the same (mean weight 1)."""
    total = sum(len(f.y) for f in files)
    return np.concatenate([np.full(len(f.y), total / (len(files) * max(len(f.y), 1))) for f in files])


def platt(logits: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """(slope, offset) of the logistic fit of the labels on the logit, rows weighted by ``w``, by
    Newton steps."""
    z = np.column_stack([logits, np.ones(len(logits))])
    ab = np.array([1.0, 0.0])
    for _ in range(PLATT_STEPS):
        p = 1 / (1 + np.exp(-z @ ab))
        hessian = z.T @ (z * (w * p * (1 - p))[:, None]) + 1e-9 * np.eye(2)
        ab -= np.linalg.solve(hessian, z.T @ (w * (p - y)))
    return float(ab[0]), float(ab[1])


def train(files: Sequence[Labelled], names: Sequence[str] = ()) -> FaithfulnessModel:
    x = np.vstack([f.x for f in files])
    y = np.concatenate([f.y for f in files])
    mu, sd, coef = fit(x, y, np.concatenate([balanced_weights(f.y) for f in files]))
    raw = np.hstack([(x - mu) / sd, np.ones((len(x), 1))]) @ coef
    slope, offset = platt(raw, y, file_weights(files))
    r = lambda values: tuple(round(float(v), DIGITS) for v in values)  # noqa: E731
    return FaithfulnessModel(
        features=FEATURES,
        mean=r(mu),
        scale=r(sd),
        weights=r(coef[:-1]),
        intercept=round(float(coef[-1]), DIGITS),
        calibration_slope=round(slope, DIGITS),
        calibration_offset=round(offset, DIGITS),
        contradiction_factor=CONTRADICTION_FACTOR,
        trained_on=tuple(names),
    )


def predict(model: FaithfulnessModel, data: Labelled) -> np.ndarray:
    return np.array([model.probability(x, bool(c)) for x, c in zip(data.x, data.contradicted, strict=True)])


@dataclass(frozen=True)
class HeldOut:
    auroc: float | None  # of the model trained on the other files
    baseline_auroc: float | None
    predictions: np.ndarray  # P(faithful) from the model trained on the other files


def leave_one_file_out(data: dict[str, Labelled]) -> dict[str, HeldOut]:
    out = {}
    for held, d in data.items():
        model = train([data[f] for f in data if f != held])
        p = predict(model, d)
        positives = list(d.y.astype(bool))
        out[held] = HeldOut(auroc(list(p), positives), auroc(list(d.baseline), positives), p)
    return out


def expected_calibration_error(p: np.ndarray, y: np.ndarray) -> float:
    _, ece = reliability(list(p), list(y.astype(bool)))
    return ece or 0.0


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    write = "--write" in args
    paths = [a for a in args if a != "--write"]
    root = Path(paths[0]) if paths else Path(__file__).resolve().parents[2] / "shared" / "data"
    data = {f: load(root / f) for f in FILES}
    held = leave_one_file_out(data)
    model = train(list(data.values()), FILES)
    print(f"{'file':52s} {'LOFO':>7s} {'words':>7s} {'fitted':>7s} {'ECE':>6s}")
    for f, h in held.items():
        p = predict(model, data[f])
        fitted = auroc(list(p), list(data[f].y.astype(bool)))
        ece = expected_calibration_error(p, data[f].y)
        print(f"{f:52s} {h.auroc or 0:7.4f} {h.baseline_auroc or 0:7.4f} {fitted or 0:7.4f} {ece:6.3f}")
    print(f"LOFO mean over the dev pack: {np.mean([held[f].auroc or 0 for f in DEV_PACK]):.4f}")
    for label, names in (("dev pack", DEV_PACK), ("all files", FILES)):
        y = np.concatenate([data[f].y for f in names])
        fitted_ece = expected_calibration_error(np.concatenate([predict(model, data[f]) for f in names]), y)
        lofo_ece = expected_calibration_error(np.concatenate([held[f].predictions for f in names]), y)
        print(
            f"ECE pooled over the {label}: fitted {fitted_ece:.4f}, each file predicted leaving it out {lofo_ece:.4f}"
        )
    if write:
        MODEL_PATH.write_text(json.dumps(model.to_json(), indent=2) + "\n", encoding="utf-8")
        print(f"wrote {MODEL_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
