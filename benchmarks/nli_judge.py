"""What the bring-your-own-model NLI judge costs per answer on CPU, next to the offline scorer in the
same run. No model is fetched: each size is a BERT of the shape of a published NLI cross-encoder
(MiniLM-L6-H384 and BERT-base), with random weights, saved to a temporary directory; compute per
pair depends on the shape, not on the weights. Skipped when torch/transformers are not installed."""

from __future__ import annotations

import string
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.scoring import make_interactions
from mre.processor.scorers import faithfulness


def _shape(hidden: int, layers: int) -> dict[str, int]:
    return dict(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=12, intermediate_size=4 * hidden)


SHAPES = {"minilm_l6_h384": _shape(384, 6), "bert_base": _shape(768, 12)}


def _save(directory: Path, shape: dict[str, int]) -> Path:
    import torch
    import transformers

    pieces = [*string.ascii_lowercase, *(f"##{c}" for c in string.ascii_lowercase), *string.digits]
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *pieces, *(f"w{k}" for k in range(30_000 - 5 - len(pieces)))]
    directory.mkdir(parents=True)
    (directory / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    transformers.BertTokenizerFast(vocab_file=str(directory / "vocab.txt")).save_pretrained(directory)
    labels = {0: "entailment", 1: "neutral", 2: "contradiction"}
    config = transformers.BertConfig(vocab_size=len(vocab), num_labels=3, id2label=labels, **shape)
    torch.manual_seed(0)
    transformers.BertForSequenceClassification(config).save_pretrained(directory)
    return directory


def run(n: int = 24) -> dict[str, Any]:
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        return {"skipped": "torch/transformers not installed (the judges extra)"}
    from mre.processor.judges.nli import NLIJudge

    interactions = make_interactions(n, seed=7)
    started = time.process_time()
    for i in interactions:
        faithfulness(i)
    offline_s = max(time.process_time() - started, 1e-9)
    figures: dict[str, Any] = {"answers": n, "context_bytes": 2048}
    with tempfile.TemporaryDirectory() as tmp:
        for name, shape in SHAPES.items():
            judge = NLIJudge(_save(Path(tmp) / name, shape), max_length=256)
            judge(interactions[0])  # warm: first-call allocations are not per-answer cost
            pairs_before = judge.pairs
            started = time.process_time()
            for i in interactions:
                judge(i)
            cpu_s = time.process_time() - started
            pairs = judge.pairs - pairs_before
            figures[f"{name}_cpu_ms_per_answer"] = 1000 * cpu_s / n
            figures[f"{name}_pairs_per_answer"] = pairs / n
            figures[f"{name}_cpu_ms_per_pair"] = 1000 * cpu_s / max(pairs, 1)
            figures[f"{name}_cost_vs_offline_ratio"] = cpu_s / offline_s
    return figures
