"""Confidence calibration: confident wording on a weakly supported answer (the dangerous case), or
hedged wording on a well supported one."""

from __future__ import annotations

from mre.model import Interaction, Score
from mre.processor.scorers.faithfulness import faithfulness as offline_faithfulness
from mre.processor.scorers.text import ascii_lowered, phrases

_CONFIDENT = phrases(
    *("definitely", "certainly", "always", "never", "guaranteed", "without (?:a )?doubt", "absolutely"),
    *("clearly", "undoubtedly", "is required", "must"),
)
_HEDGED = phrases(
    *("might", "may be", "possibly", "perhaps", "probably", "likely", "i think", "i believe", "it seems"),
    *("not sure", "unclear", "could be", "approximately", "roughly"),
)
# Read on faithfulness as P(faithful): below 0.2 the answer is very likely unfaithful; from 0.5 on it
# is more likely faithful than not (an answer the context fully bears out reads ~0.68).
WEAK_SUPPORT = 0.2
STRONG_SUPPORT = 0.5


_UNSET = Score("faithfulness", 0.0, "unset")


def confidence_calibration(interaction: Interaction, faithfulness: Score | None = _UNSET) -> Score | None:
    """Read against ``faithfulness`` as reported (the pipeline passes it, judged or not); alone, it
    scores the offline faithfulness itself."""
    support = offline_faithfulness(interaction) if faithfulness is _UNSET else faithfulness
    if support is None or interaction.answer is None:
        return None
    answer = interaction.answer
    lowered = ascii_lowered(answer)
    confident, hedged = _CONFIDENT.search(answer, lowered), _HEDGED.search(answer, lowered)
    if confident and not hedged and support.value < WEAK_SUPPORT:
        label, value = "overconfident", 0.0
    elif hedged and not confident and support.value >= STRONG_SUPPORT:
        label, value = "underconfident", 0.5
    else:
        label, value = "calibrated", 1.0
    tone = "confident" if confident and not hedged else ("hedged" if hedged and not confident else "neutral")
    return Score(
        "confidence_calibration",
        value,
        label,
        f"{tone} wording on an answer with support {support.value:.2f}",
        {"tone": tone, "support": round(support.value, 3)},
    )
