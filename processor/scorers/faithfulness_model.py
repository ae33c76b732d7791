"""The faithfulness model: the named evidence of ``faithfulness_evidence`` combined into P(faithful).

A logistic regression over the standardized evidence, its logit recalibrated (Platt scaling) on the
pooled labelled files so the value reads as a probability, then lowered by a fixed factor when a
structured check finds a contradiction (a dropped or invented carve-out). The coefficients are data,
``faithfulness_model.json`` beside this module, written by ``python -m mre.processor.faithfulness_training
--write`` from ``shared/data``; inference is a few multiplications, no numpy on the hot path.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any

from mre.processor.scorers.faithfulness_evidence import FEATURES

MODEL_PATH = Path(__file__).with_name("faithfulness_model.json")


@dataclass(frozen=True, slots=True)
class FaithfulnessModel:
    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]  # per standardized feature, all <= 0
    intercept: float
    calibration_slope: float  # Platt: P = sigmoid(slope * logit + offset)
    calibration_offset: float
    contradiction_factor: float  # P is multiplied by it when a structured check finds a contradiction
    trained_on: tuple[str, ...] = ()

    def logit(self, evidence: Sequence[float]) -> float:
        return self.intercept + sum(
            w * (x - m) / s for w, x, m, s in zip(self.weights, evidence, self.mean, self.scale, strict=True)
        )

    def probability(self, evidence: Sequence[float], contradicted: bool = False) -> float:
        z = self.calibration_slope * self.logit(evidence) + self.calibration_offset
        p = 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))
        return p * self.contradiction_factor if contradicted else p

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FaithfulnessModel:
        model = cls(
            features=tuple(data["features"]),
            mean=tuple(float(v) for v in data["mean"]),
            scale=tuple(float(v) for v in data["scale"]),
            weights=tuple(float(v) for v in data["weights"]),
            intercept=float(data["intercept"]),
            calibration_slope=float(data["calibration_slope"]),
            calibration_offset=float(data["calibration_offset"]),
            contradiction_factor=float(data["contradiction_factor"]),
            trained_on=tuple(data.get("trained_on", ())),
        )
        if model.features != FEATURES:
            raise ValueError(f"faithfulness model is for features {model.features}, the evidence is {FEATURES}")
        if not len(model.mean) == len(model.scale) == len(model.weights) == len(FEATURES):
            raise ValueError("faithfulness model: mean, scale and weights must each have one entry per feature")
        return model


@cache
def shipped_model() -> FaithfulnessModel:
    """The committed coefficients, read once per process."""
    return FaithfulnessModel.from_json(json.loads(MODEL_PATH.read_text(encoding="utf-8")))
