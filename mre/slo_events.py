"""The SLO event kinds an SLO file may name (``sli: {event: <kind>}``): the one place a kind is added.

An event kind is a scorer with a fixed rule: a bad event is an answer whose ``evaluation`` score is
below ``threshold``. Every reader of SLO files (mre/v1, Sloth plugin options, OpenSLO annotations)
checks names against this registry, the docs list it (a test holds the README to it), and an SLO
over a kind is evaluated, counted (``mre_slo_events_total``) and drawn like any other, since what the
processor and the rules see is the SLO's scorer and threshold. A kind registered here
(:func:`register`) is therefore on every surface; nothing else lists them.

Registering checks the name's form only: the evaluation it rests on is checked when an SLO file names
the kind, once the scorers have declared theirs (:mod:`mre.evaluations`), so the core never imports the
processor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


@dataclass(frozen=True)
class EventKind:
    name: str
    evaluation: str  # the scorer whose score decides
    threshold: float  # an answer scoring below it is a bad event
    means: str  # what one bad event is, for the docs and the SLO file's comments


_KINDS: dict[str, EventKind] = {}  # insertion-ordered: messages and docs list kinds as registered


def register(kind: EventKind) -> None:
    """Add ``kind``: SLO files may name it from now on. A name already taken is refused."""
    if not _NAME.match(kind.name):
        raise ValueError(f"event kind {kind.name!r}: lower-case letters, digits and '_', starting with a letter")
    if kind.name in _KINDS:
        raise ValueError(f"event kind {kind.name!r} is already registered")
    if not kind.evaluation or not 0.0 <= kind.threshold <= 1.0:
        raise ValueError(f"event kind {kind.name!r}: an evaluation and a threshold in [0, 1]")
    _KINDS[kind.name] = kind


def unregister(name: str) -> None:
    _KINDS.pop(name, None)


def kinds() -> tuple[EventKind, ...]:
    return tuple(_KINDS.values())


def get(name: str) -> EventKind | None:
    return _KINDS.get(name)


for _kind in (
    EventKind("guardrail_violation", "safety", 1.0, "an answer the safety check or a guardrail on the output flagged"),
    # A question a guardrail flagged: its own SLI (abuse, injection attempts), not the answer's fault.
    EventKind(
        "flagged_input", "input_safety", 1.0, "a question a guardrail on the input flagged (never the answer's fault)"
    ),
    EventKind(
        "wrong_abstention",
        "abstention",
        1.0,
        "an answer nothing retrieved supports, or an abstention the context answers",
    ),
    EventKind("stale_source", "freshness", 0.5, "an answer resting on a superseded or stale source"),
    EventKind("permission_leak", "permission_leak", 0.5, "an answer using a document the asker may not read"),
    # An answer that could not be fully scored (mre.processor.coverage): a bad event of its own SLO.
    EventKind("unscored_answer", "scoring_coverage", 1.0, "an answer whose text, question or context was not captured"),
):
    register(_kind)
