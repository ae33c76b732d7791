"""`python -m mre.processor.faithfulness_training [DATA_DIR]`: fit the faithfulness evidence model and
measure it leaving one file out (train on the others, evaluate on it), beside the unsupported-word
baseline, over the human-labelled files of ``shared/data``.

Logistic regression with numpy: each training file weighs the same and, within it, each class half
(so no file's size or base rate decides), weights on the evidence held non-positive (evidence against
an answer can only lower its estimate). Deterministic: fixed steps, no random start.

Not yet the shipped scorer's value (#17): this module reproduces the model and its figures.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mre.processor.baselines import BASELINES
from mre.processor.offline import read_examples
from mre.processor.scorers.faithfulness_evidence import overlap_evidence
from mre.processor.stats import auroc

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


def load(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(evidence rows, labels, baseline values) of the labelled rows of one `mre eval` file."""
    with path.open(encoding="utf-8") as fh:
        examples, _ = read_examples(fh)
    labelled = [e for e in examples if e.faithful is not None]
    rows = [overlap_evidence(e.interaction.answer or "", e.interaction.contexts or ()) for e in labelled]
    labels = [1.0 if e.faithful else 0.0 for e in labelled]
    base = [BASELINES["unsupported_words"](e.interaction) for e in labelled]  # as `mre eval` reports it
    return np.array(rows, float), np.array(labels, float), np.array(base, float)


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


def logit(model: tuple[np.ndarray, np.ndarray, np.ndarray], x: np.ndarray) -> np.ndarray:
    mu, sd, coef = model
    return np.hstack([(x - mu) / sd, np.ones((len(x), 1))]) @ coef


def leave_one_file_out(
    data: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
) -> dict[str, tuple[float | None, float | None]]:
    """Per file: (AUROC of the model trained on the other files, AUROC of the baseline)."""
    out = {}
    for held in data:
        rest = [data[f] for f in data if f != held]
        model = fit(
            np.vstack([x for x, _, _ in rest]),
            np.concatenate([y for _, y, _ in rest]),
            np.concatenate([balanced_weights(y) for _, y, _ in rest]),
        )
        x, y, base = data[held]
        out[held] = (auroc(list(logit(model, x)), list(y.astype(bool))), auroc(list(base), list(y.astype(bool))))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    root = Path(args[0]) if args else Path(__file__).resolve().parents[2] / "shared" / "data"
    data = {f: load(root / f) for f in FILES}
    results = leave_one_file_out(data)
    for f, (model_auc, base_auc) in results.items():
        print(f"{f:52s} LOFO {model_auc or 0:.4f}  unsupported-words {base_auc or 0:.4f}")
    print(f"mean over the dev pack: {np.mean([results[f][0] or 0 for f in DEV_PACK]):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
