"""The judge options of `mre eval` and `mre serve`, and the faithfulness cascade they build."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def add_judge_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("judges (extras; the default is offline)")
    group.add_argument("--judge-url", help="OpenAI-compatible endpoint of an LLM judge (key in MRE_JUDGE_API_KEY)")
    group.add_argument("--judge-model", default="gpt-4o-mini", help="the judge's model name")
    group.add_argument("--embedding-judge", action="store_true", help="escalate to the bundled embedding model")
    group.add_argument(
        "--nli-model", metavar="DIR", help="escalate to a local NLI / cross-encoder model directory (never a hub id)"
    )
    group.add_argument("--nli-entailment-label", help="the NLI model's entailment label or index, if not named so")
    group.add_argument("--judge-band", help="uncertain band of the offline score that escalates (default 0.2,0.85)")
    group.add_argument("--judge-sample-rate", type=float, default=1.0, help="share of uncertain answers escalated")
    group.add_argument("--judge-rate", type=float, help="judge calls per second at most")
    group.add_argument("--judge-budget", type=float, help="judge calls per day at most")


def judged_faithfulness(args: argparse.Namespace) -> Any:
    import os

    from mre.processor.judges import build_faithfulness

    low, _, high = (args.judge_band or "0.2,0.85").partition(",")
    try:
        return build_faithfulness(
            judge_url=args.judge_url,
            judge_model=args.judge_model,
            judge_api_key=os.environ.get("MRE_JUDGE_API_KEY", "unused"),
            embedding=args.embedding_judge,
            nli_model=args.nli_model,
            nli_entailment_label=args.nli_entailment_label,
            band=(float(low), float(high)),
            sample_rate=args.judge_sample_rate,
            rate_per_s=args.judge_rate,
            budget_per_day=args.judge_budget,
        )
    except (ValueError, RuntimeError, OSError) as exc:
        # A judge that cannot be built (no such model directory, an unreadable head, a bad band) stops
        # the command before anything is scored, as argparse does for a bad option.
        print(f"mre: judge: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
