"""`mre eval` measures every scorer against the baselines it must beat (unsupported words, answer
length), overall and per `source`, and reads each score as a probability: reliability bins, ECE."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from mre.exporters.html_report import render
from mre.processor.offline import evaluate, read_examples
from mre.processor.stats import reliability
from tests.test_eval import DATA

PACK = DATA / "faithfulness_dev"
# The data pack's own README gives these (AUROC, stdlib computation): ours must be the same figures.
PUBLISHED = {
    "begin_dev.jsonl": (0.954, 0.583),
    "summac_frank_cnndm_val.jsonl": (0.676, 0.403),
    "summac_frank_xsum_val.jsonl": (0.671, 0.601),
    "summac_xsumfaith_dev.jsonl": (0.680, 0.604),
    "summedits_dev.jsonl": (0.429, 0.497),
}


@pytest.mark.skipif(not PACK.exists(), reason="shared/data is not beside the checkout")
@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_the_baselines_reproduce_the_data_packs_published_figures(name: str) -> None:
    with (PACK / name).open(encoding="utf-8") as handle:
        examples, _ = read_examples(handle)
    report = evaluate(examples, scorers={})
    unsupported, length = PUBLISHED[name]
    assert round(report.baselines["unsupported_words"] or 0, 3) == unsupported
    assert round(report.baselines["answer_length"] or 0, 3) == length


def test_reliability_reads_a_score_as_a_probability() -> None:
    rng = random.Random(3)
    scores = [rng.random() for _ in range(20_000)]
    calibrated = [rng.random() < s for s in scores]  # P(faithful) == score
    bins, ece = reliability(scores, calibrated)
    assert ece is not None and ece < 0.02 and len(bins) == 10
    assert all(abs(b.observed - b.mean_predicted) < 0.05 for b in bins)
    overconfident = [rng.random() < 0.5 for _ in scores]  # the score says nothing
    _, ece = reliability(scores, overconfident)
    assert ece is not None and 0.2 < ece < 0.3  # |0.5 - s| averaged over uniform s is 0.25


def _rows(tmp_path: Path) -> Path:
    context = "Refunds are possible within 30 days of delivery, except for customized items."
    rows = []
    for i in range(40):
        faithful = i % 2 == 0
        answer = context if faithful else "Refunds are possible within 90 days anywhere."
        rows.append(
            {
                "question": "How long do refunds take?",
                "contexts": [context],
                "answer": answer,
                "faithful": faithful,
                "source": "qa" if i < 20 else "chat",
            }
        )
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_figures_are_given_per_source_beside_the_baselines(tmp_path: Path) -> None:
    path = _rows(tmp_path)
    with path.open(encoding="utf-8") as handle:
        examples, _ = read_examples(handle)
    report = evaluate(examples)
    assert set(report.by_source) == {"qa", "chat"}
    qa = report.by_source["qa"]
    assert qa.n == qa.n_labeled == 20
    assert qa.auroc["faithfulness"] == 1.0 and qa.baselines["unsupported_words"] == 1.0
    data = report.to_json()
    assert data["by_source"]["chat"]["baselines"]["answer_length"] is not None
    assert data["scorers"]["faithfulness"]["ece"] is not None and data["scorers"]["faithfulness"]["reliability"]
    html = render(report, "rows.jsonl")
    assert "reliability faithfulness" in html and "AUROC per source" in html and "ECE" in html
    out = tmp_path / "out.json"
    result = subprocess.run(
        [sys.executable, "-m", "mre", "eval", str(path), "--json", str(out), "-q"],
        capture_output=True,
        text=True,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert "baseline: unsupported_words" in result.stdout and "AUROC per source" in result.stdout
    assert json.loads(out.read_text())["baselines"]["unsupported_words"] == 1.0
