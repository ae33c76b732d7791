"""An LLM judge over any OpenAI-compatible endpoint (`pip install mre-otel[openai]`).

It asks for a JSON verdict ``{"score": 0..1, "label": "...", "explanation": "..."}`` on whether the
answer is supported by the context. Failures (network, refusal, unparsable output) return None and
are counted: a judge that cannot judge must not look like a zero.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

from mre.model import Interaction, Score

logger = logging.getLogger(__name__)

SYSTEM = (
    "You are a faithfulness judge for a retrieval-augmented assistant. Decide whether every claim of the "
    "ANSWER is supported by the CONTEXT; numbers, units, dates, negations and qualifiers (except, unless, "
    "only, not, contraindicated) must match exactly. Reply with JSON only: "
    '{"score": <0..1, the share of supported claims>, "label": "supported"|"partially_supported"|'
    '"unsupported", "explanation": "<one sentence naming unsupported claims>"}'
)

MAX_CONTEXT_CHARS = 12_000


def judge_prompt(interaction: Interaction) -> str:
    context = "\n\n".join(interaction.contexts or [])[:MAX_CONTEXT_CHARS]
    return f"QUESTION:\n{interaction.question or ''}\n\nCONTEXT:\n{context}\n\nANSWER:\n{interaction.answer or ''}"


def parse_verdict(text: str, name: str) -> Score | None:
    # The outermost braces, found in one pass each way (a regex `{.*}` backtracks quadratically).
    text = text or ""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        return None
    try:
        verdict = json.loads(text[start : end + 1])
        value = float(verdict["score"])
    except (ValueError, KeyError, TypeError, RecursionError):
        return None
    if not 0.0 <= value <= 1.0:
        return None
    label = str(verdict.get("label") or ("supported" if value >= 0.85 else "unsupported"))
    return Score(name, value, label, str(verdict.get("explanation", ""))[:500], {"judge": "llm"})


class LLMJudge:
    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str = "unused",
        name: str = "faithfulness",
        timeout_s: float = 30.0,
        client: Any = None,
    ) -> None:
        if client is None:
            try:
                import openai
            except ImportError as exc:
                raise RuntimeError("the LLM judge needs the openai package: pip install 'mre-otel[openai]'") from exc
            client = openai.OpenAI(base_url=base_url, api_key=api_key, timeout=timeout_s, max_retries=1)
        self._client = client
        self.model = model
        self.name = name
        self.calls = 0
        self.errors = 0
        self._lock = threading.Lock()

    def __call__(self, interaction: Interaction) -> Score | None:
        if interaction.answer is None or interaction.contexts is None:
            return None
        with self._lock:
            self.calls += 1
        try:
            completion = self._client.chat.completions.create(
                model=self.model,
                temperature=0,
                messages=[
                    {"role": "system", "content": SYSTEM},
                    {"role": "user", "content": judge_prompt(interaction)},
                ],
            )
            score = parse_verdict(completion.choices[0].message.content or "", self.name)
        except Exception as exc:  # any client or server failure: no verdict, counted
            logger.warning("LLM judge call failed: %s", exc)
            score = None
        if score is None:
            with self._lock:
                self.errors += 1
        return score
