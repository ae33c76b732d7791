"""Bring your own model: the NLI judge loads a model directory the user keeps locally (transformers or
ONNX), reads its entailment output by label, and takes the cascade's uncertain band. The models here
are tiny BERTs the test builds and saves itself: nothing is fetched, and what the judge reports is
checked against the model's own output computed beside it."""

from __future__ import annotations

import string
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from mre.processor import limits  # noqa: E402
from mre.processor.judges import Cascade, build_faithfulness  # noqa: E402
from mre.processor.judges.nli import NLIJudge, entailment_index  # noqa: E402
from mre.processor.scorers import faithfulness  # noqa: E402
from tests.helpers import interaction  # noqa: E402

CONTEXT = (
    "Customers may request a refund within 30 days of delivery. Customized items are excluded. "
    "Refunds are paid to the original payment method."
)
ANSWER = "Customers may request a refund within 30 days of delivery. Refunds go to the original payment method."
QUESTION = "How long do customers have to request a refund?"


def _tiny_model(directory: Path, id2label: dict[int, str], seed: int = 0, onnx: bool = False) -> Path:
    """A two-layer BERT sequence classifier with a word-piece vocabulary that covers any lower-case
    word (letters and continuation letters), saved as a user would save a fine-tuned model."""
    directory.mkdir(parents=True, exist_ok=True)
    words = sorted(set(f"{CONTEXT} {ANSWER} {QUESTION}".lower().replace(".", " ").replace("?", " ").split()))
    pieces = [*string.ascii_lowercase, *(f"##{c}" for c in string.ascii_lowercase), *string.digits, ".", "?", ","]
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words, *(p for p in pieces if p not in words)]
    (directory / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    transformers.BertTokenizerFast(vocab_file=str(directory / "vocab.txt")).save_pretrained(directory)
    config = transformers.BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
        num_labels=len(id2label),
        id2label=id2label,
        label2id={v: k for k, v in id2label.items()},
    )
    torch.manual_seed(seed)
    model = transformers.BertForSequenceClassification(config).eval()
    model.save_pretrained(directory)
    if onnx:
        tokenizer = transformers.AutoTokenizer.from_pretrained(directory, local_files_only=True)
        sample = tokenizer(["a b"], ["c"], return_tensors="pt")
        torch.onnx.export(
            model,
            (sample["input_ids"], sample["attention_mask"], sample["token_type_ids"]),
            str(directory / "model.onnx"),
            input_names=list(INPUTS),
            output_names=["logits"],
            dynamic_axes={name: {0: "batch", 1: "tokens"} for name in INPUTS},
            dynamo=False,
        )
    return directory


def _entailment_of(directory: Path, premise: str, hypothesis: str, index: int) -> float:
    """The model's own P(label index) for one pair, computed without the judge."""
    tokenizer = transformers.AutoTokenizer.from_pretrained(directory, local_files_only=True)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(directory, local_files_only=True).eval()
    with torch.inference_mode():
        logits = model(**tokenizer(premise, hypothesis, return_tensors="pt")).logits[0]
    return float(torch.softmax(logits, dim=-1)[index])


INPUTS = ("input_ids", "attention_mask", "token_type_ids")
MNLI_LABELS = {0: "ENTAILMENT", 1: "NEUTRAL", 2: "CONTRADICTION"}


@pytest.fixture(scope="module")
def mnli_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _tiny_model(tmp_path_factory.mktemp("nli") / "tiny-mnli", MNLI_LABELS)


def test_the_judge_reports_the_models_own_entailment_probability_for_each_claim(mnli_dir: Path) -> None:
    judge = NLIJudge(mnli_dir)
    one = interaction("Customized items are excluded.", ["Customized items are excluded."], QUESTION)
    score = judge(one)
    assert score is not None and judge.backend == "transformers" and judge.entailment == 0
    expected = _entailment_of(mnli_dir, "Customized items are excluded.", "Customized items are excluded.", 0)
    assert score.value == pytest.approx(expected, abs=1e-5)
    assert score.details["judge"] == "nli" and score.details["pairs"] == 1 and score.details["model"] == "tiny-mnli"


def test_a_claims_support_is_its_best_premise_and_the_value_the_mean_over_claims(mnli_dir: Path) -> None:
    judge = NLIJudge(mnli_dir)
    score = judge(interaction(ANSWER, [CONTEXT], QUESTION))
    assert score is not None and len(score.details["support"]) == 2
    assert score.value == pytest.approx(float(np.mean(score.details["support"])), abs=1e-4)
    # Each claim's support is the maximum over the premises the judge sent for it.
    claim = "Customers may request a refund within 30 days of delivery."
    premise = "Customers may request a refund within 30 days of delivery."
    assert score.details["support"][0] >= _entailment_of(mnli_dir, premise, claim, 0) - 1e-4


def test_the_entailment_output_is_found_by_label_not_by_position(tmp_path: Path) -> None:
    assert entailment_index({0: "contradiction", 1: "neutral", 2: "entailment"}, 3) == 2
    assert entailment_index({0: "not_entailment", 1: "entailment"}, 2) == 1
    assert entailment_index({0: "hallucinated", 1: "consistent"}, 2) == 1
    assert entailment_index({0: "LABEL_0"}, 1) is None  # one logit: a cross-encoder's sigmoid
    assert entailment_index({0: "LABEL_0", 1: "LABEL_1"}, 2, 1) == 1
    with pytest.raises(ValueError, match="LABEL_0"):
        entailment_index({0: "LABEL_0", 1: "LABEL_1"}, 2)
    directory = _tiny_model(tmp_path / "reordered", {0: "contradiction", 1: "entailment", 2: "neutral"}, seed=3)
    judge = NLIJudge(directory)
    score = judge(interaction("Customized items are excluded.", ["Customized items are excluded."], QUESTION))
    expected = _entailment_of(directory, "Customized items are excluded.", "Customized items are excluded.", 1)
    assert judge.entailment == 1 and score is not None and score.value == pytest.approx(expected, abs=1e-5)


def test_a_head_whose_labels_say_nothing_is_refused_at_load_unless_told(tmp_path: Path) -> None:
    directory = _tiny_model(tmp_path / "unnamed", {0: "LABEL_0", 1: "LABEL_1"})
    with pytest.raises(ValueError, match="entailment_label"):
        NLIJudge(directory)
    assert NLIJudge(directory, entailment_label="LABEL_1").entailment == 1


def test_nothing_but_a_local_directory_is_loaded(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="never fetches"):
        NLIJudge("cross-encoder/nli-deberta-v3-small")  # a hub id, refused before transformers sees it
    with pytest.raises(ValueError, match="not a directory"):
        NLIJudge(tmp_path / "missing")


def test_an_onnx_export_in_the_directory_is_run_by_onnxruntime_with_the_same_result(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    directory = _tiny_model(tmp_path / "onnx", MNLI_LABELS, onnx=True)
    judge = NLIJudge(directory)
    one = interaction("Customized items are excluded.", ["Customized items are excluded."], QUESTION)
    score = judge(one)
    expected = _entailment_of(directory, "Customized items are excluded.", "Customized items are excluded.", 0)
    assert judge.backend == "onnx" and score is not None and score.value == pytest.approx(expected, abs=1e-4)


def test_in_the_cascade_the_judge_decides_only_the_uncertain_band(mnli_dir: Path) -> None:
    scorer = build_faithfulness(nli_model=str(mnli_dir), band=(0.0, 1.0))
    assert isinstance(scorer, Cascade)
    score = scorer(interaction(ANSWER, [CONTEXT], QUESTION))
    assert score is not None and score.details["escalation"]["decision"] == "escalated"
    assert score.details["judge"] == "nli"
    assert score.value == pytest.approx(score.details["escalation"]["judge_value"], abs=1e-4)
    certain = build_faithfulness(nli_model=str(mnli_dir), band=(0.0, 0.0))
    assert certain is not None
    kept = certain(interaction(ANSWER, [CONTEXT], QUESTION))
    cheap = faithfulness(interaction(ANSWER, [CONTEXT], QUESTION))
    assert kept is not None and cheap is not None and kept.value == cheap.value
    assert kept.details["escalation"]["decision"] == "certain"


def test_an_answer_is_read_in_at_most_max_judge_pairs_pairs_and_the_cut_is_counted(mnli_dir: Path) -> None:
    judge = NLIJudge(mnli_dir)
    sentences = [f"Item {k} may be returned within {k} days of delivery." for k in range(200)]
    answer = " ".join(f"Item {k} may be returned within {k + 1} days of delivery." for k in range(40))
    before = limits.CUTS.snapshot()["judge_pairs"]
    score = judge(interaction(answer, [" ".join(sentences)], QUESTION))
    assert score is not None and score.details["pairs"] <= limits.MAX_JUDGE_PAIRS
    assert limits.CUTS.snapshot()["judge_pairs"] > before


def test_the_cli_takes_a_model_directory_and_refuses_a_missing_one(mnli_dir: Path, tmp_path: Path) -> None:
    from mre.cli import main

    rows = tmp_path / "rows.jsonl"
    rows.write_text(
        '{"question": "q?", "answer": "Customized items are excluded.", "contexts": ["Customized items are'
        ' excluded."], "faithful": true}\n'
        '{"question": "q?", "answer": "Customized items are included.", "contexts": ["Customized items are'
        ' excluded."], "faithful": false}\n',
        encoding="utf-8",
    )
    out = tmp_path / "report.json"
    judged = ["--nli-model", str(mnli_dir), "--judge-band", "0,1"]
    assert main(["eval", str(rows), "--scorers", "faithfulness", *judged, "--json", str(out)]) == 0
    assert "faithfulness" in out.read_text(encoding="utf-8")
    with pytest.raises(SystemExit) as stopped:
        main(["eval", str(rows), "--nli-model", str(tmp_path / "nowhere")])
    assert stopped.value.code == 2
