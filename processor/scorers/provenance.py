"""Scorers of where the answer's facts came from: freshness and authority (superseded versions,
unapproved drafts, age), conflicting versions of one document, permission leaks, citations."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from mre import semconv as sc
from mre.metadata import META_FAMILY, PROMPT_SOURCE
from mre.model import Document, Interaction, Score
from mre.processor.scorers._context import ContextUnits, context_units, count_cut
from mre.processor.scorers._support import Support, support
from mre.processor.scorers.analysis import analysis_of
from mre.processor.scorers.faithfulness import check_claim
from mre.processor.scorers.text import split_sentences

# Age alone does not make a policy wrong: by default age is reported, not judged. Set a limit for
# corpora where it does (news, prices): older sources then count as stale.
MAX_AGE_DAYS: float | None = None
_UNAPPROVED = frozenset({"draft", "proposed", "pending", "unapproved", "deprecated", "archived", "superseded"})
_PUBLIC = frozenset({"all", "*", "public", "everyone"})
_CITATION = re.compile(r"\[([A-Za-z0-9_.:\-]{1,120}+(?:[ \t]{0,3}+,[ \t]{0,3}+[A-Za-z0-9_.:\-]{1,120}+){0,20}+)\]")


def _age_days(doc: Document, now: datetime) -> float | None:
    when = _when(doc)
    return None if when is None else (now - when).total_seconds() / 86400


def _now(interaction: Interaction) -> datetime:
    if interaction.end_ns:
        return datetime.fromtimestamp(interaction.end_ns / 1e9, tz=UTC)
    return datetime.now(tz=UTC)


def _authority_problems(doc: Document) -> list[str]:
    problems = []
    if doc.metadata.get(sc.META_SUPERSEDED_BY):
        problems.append(f"superseded by {doc.metadata[sc.META_SUPERSEDED_BY]}")
    status = doc.metadata.get(sc.META_STATUS)
    if isinstance(status, str) and status.lower() in _UNAPPROVED:
        problems.append(f"status {status.lower()}")
    return problems


_VERSION_SUFFIX = re.compile(r"(?:[-_ .]v\d+(?:\.\d+)*|[-_ ]\d{4}(?:-\d{2}){0,2})$", re.I)
_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,5}$")


def _without_version(text: str) -> str:
    extension = _EXTENSION.search(text)
    base, suffix = (text[: extension.start()], extension.group(0)) if extension else (text, "")
    return _VERSION_SUFFIX.sub("", base) + suffix


def document_family(doc: Document) -> str | None:
    """Which document a chunk or version belongs to: ``family``, else its source or title without a
    version or date suffix, else an id that ends in a version (``remote-work-v1``)."""
    for key in (META_FAMILY, sc.META_SOURCE, "title"):
        value = doc.metadata.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
            if value == PROMPT_SOURCE:  # passages read from a prompt share this source: no family
                continue
            return _without_version(str(value).strip().lower())
    if _VERSION_SUFFIX.search(doc.id):
        return _VERSION_SUFFIX.sub("", doc.id.lower())
    return None


def _version(doc: Document) -> float | None:
    raw = doc.metadata.get(sc.META_VERSION)
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int | float):
        return float(raw)
    if isinstance(raw, str):
        match = re.match(r"^\s*v?(\d+(?:\.\d+)?)\s*$", raw, re.I)
        return float(match.group(1)) if match else None
    match = re.search(r"[-_ .]v(\d+)$", doc.id, re.I)
    return float(match.group(1)) if match else None


def _when(doc: Document) -> datetime | None:
    raw = doc.metadata.get(sc.META_UPDATED_AT)
    if not isinstance(raw, str):
        return None
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _used(s: Support | None) -> set[int]:
    """The documents the answer rests on, by identity: ids repeat when an index names chunks after
    their source file."""
    return {id(s.documents[i]) for i in s.used} if s else set()


def _older_siblings(docs: list[Document]) -> dict[int, str]:
    """Documents retrieved beside a newer version of themselves (same family, a lower version or an
    older ``updated_at``): stale even when nothing marks them so. id(document) -> why."""
    families: dict[str, list[Document]] = {}
    for doc in docs:
        family = document_family(doc)
        if family is not None:
            families.setdefault(family, []).append(doc)
    out: dict[int, str] = {}
    for members in families.values():
        if len(members) < 2:
            continue
        versions = [(v, d) for d in members if (v := _version(d)) is not None]
        if len(versions) >= 2:
            newest_version, newest = max(versions, key=lambda pair: pair[0])
            for value, doc in versions:
                if value < newest_version:
                    out[id(doc)] = f"version {value:g} beside version {newest_version:g} ({newest.id})"
            continue
        dated = [(w, d) for d in members if (w := _when(d)) is not None]
        if len(dated) >= 2:
            newest_when, newest = max(dated, key=lambda pair: pair[0])
            for when, doc in dated:
                if when < newest_when:
                    out[id(doc)] = f"updated {when.date()} beside {newest.id} updated {newest_when.date()}"
    return out


def freshness(interaction: Interaction, max_age_days: float | None = MAX_AGE_DAYS) -> Score | None:
    """0 when the answer rests on a superseded, unapproved, older or stale source; 0.5 when such a
    source was only retrieved; 1 otherwise. None when no document carries freshness metadata.

    A source is superseded when its metadata says so (``superseded_by``, a ``status``) and also when a
    newer version of the same document was retrieved beside it (re-indexing often appends)."""
    docs = analysis_of(interaction).documents
    if not docs:
        return None
    if not any(
        sc.META_UPDATED_AT in d.metadata
        or sc.META_SUPERSEDED_BY in d.metadata
        or sc.META_STATUS in d.metadata
        or _version(d) is not None
        for d in docs
    ):
        return None
    now = _now(interaction)
    s = support(interaction)
    used = _used(s)
    older = _older_siblings(docs)
    findings: list[dict[str, Any]] = []
    for doc in docs:
        problems = _authority_problems(doc)
        if id(doc) in older and not any(p.startswith("superseded") for p in problems):
            problems.append(f"older: {older[id(doc)]}")
        age = _age_days(doc, now)
        if age is not None and max_age_days is not None and age > max_age_days:
            problems.append(f"{age:.0f} days old")
        if problems:
            findings.append({"document": doc.id, "used": id(doc) in used, "problems": problems})
    used_bad = [f for f in findings if f["used"]]
    value = 0.0 if used_bad else (0.5 if findings else 1.0)
    label = "stale_used" if used_bad else ("stale_retrieved" if findings else "fresh")
    ages = [a for a in (_age_days(d, now) for d in docs) if a is not None]
    explanation = (
        "; ".join(
            f"{f['document']} ({'used' if f['used'] else 'retrieved'}): {', '.join(f['problems'])}" for f in findings
        )
        or "every source is current"
    )
    return Score(
        "freshness",
        value,
        label,
        explanation,
        {"findings": findings, "max_age_days": round(max(ages), 1) if ages else None},
    )


def conflicting_sources(interaction: Interaction) -> Score | None:
    """0 when the answer draws on several versions of one document family (a policy stitched from a
    draft and two versions); 1 otherwise."""
    s = support(interaction)
    if s is None or not s.used:
        return None
    versions: dict[str, set[str]] = {}
    for i in s.used:
        doc = s.documents[i]
        family = document_family(doc)
        # Chunks of one document share a family but not a version: without a version or date there
        # is no second version to conflict with.
        number = _version(doc)
        version = f"{number:g}" if number is not None else doc.metadata.get(sc.META_UPDATED_AT)
        if family is not None and version is not None:
            versions.setdefault(family, set()).add(str(version))
    conflicts = {family: sorted(v) for family, v in versions.items() if len(v) > 1}
    explanation = (
        "; ".join(f"{family}: versions {', '.join(v)}" for family, v in conflicts.items())
        or "the answer draws on one version per document family"
    )
    return Score(
        "conflicting_sources",
        0.0 if conflicts else 1.0,
        "conflicting" if conflicts else "consistent",
        explanation,
        {"conflicts": conflicts},
    )


def _allowed(acl: Any, principal: str) -> bool:
    if isinstance(acl, str):
        acl = [a.strip() for a in acl.split(",")]
    if not isinstance(acl, list | tuple | set | frozenset):
        return True  # no usable ACL: nothing to enforce
    entries = {str(a).lower() for a in acl}
    return bool(entries & _PUBLIC) or principal.lower() in entries


def permission_leak(interaction: Interaction) -> Score | None:
    """0 when a document whose ACL excludes the requesting principal was used in the answer; 0.5 when
    one was only retrieved. None when the principal or the ACLs were not captured."""
    docs = analysis_of(interaction).documents
    if interaction.principal is None or not docs or not any(sc.META_ACL in d.metadata for d in docs):
        return None
    used = _used(support(interaction))
    principal = interaction.principal
    denied_docs = [d for d in docs if sc.META_ACL in d.metadata and not _allowed(d.metadata[sc.META_ACL], principal)]
    denied = [d.id for d in denied_docs]
    leaked = [d.id for d in denied_docs if id(d) in used]
    value = 0.0 if leaked else (0.5 if denied else 1.0)
    label = "leaked" if leaked else ("over_retrieved" if denied else "ok")
    explanation = (
        f"principal {interaction.principal!r} may not read: {', '.join(denied)}"
        + (f" (used: {', '.join(leaked)})" if leaked else "")
        if denied
        else f"every document is readable by {interaction.principal!r}"
    )
    return Score("permission_leak", value, label, explanation, {"denied": denied, "used": leaked})


def citations(interaction: Interaction) -> Score | None:
    """Share of citations ``[doc-id]`` that name a retrieved document which supports the sentence."""
    answer, docs = interaction.answer, analysis_of(interaction).documents
    if answer is None or docs is None:
        return None
    by_id: Mapping[str, Document] = {d.id: d for d in docs}
    checked = []
    for sentence in split_sentences(answer):
        cited = [c.strip() for group in _CITATION.findall(sentence) for c in group.split(",")]
        if not cited:
            continue
        claim = _CITATION.sub("", sentence).strip()
        for doc_id in cited:
            doc = by_id.get(doc_id)
            if doc is None:
                checked.append({"citation": doc_id, "valid": False, "reason": "not among the retrieved documents"})
            elif not doc.content:
                continue  # text not captured: cannot judge this citation
            elif check_claim(claim, _document_units_of(interaction, doc.content)).supported:
                checked.append({"citation": doc_id, "valid": True, "reason": ""})
            else:
                checked.append({"citation": doc_id, "valid": False, "reason": "does not support the sentence"})
    if not checked:
        return None
    valid = sum(1 for c in checked if c["valid"])
    value = valid / len(checked)
    invalid = [c for c in checked if not c["valid"]]
    explanation = (
        "; ".join(f"[{c['citation']}] {c['reason']}" for c in invalid)
        if invalid
        else f"all {len(checked)} citations hold"
    )
    return Score("citations", value, "valid" if not invalid else "invalid", explanation, {"citations": checked})


def _document_units_of(interaction: Interaction, text: str) -> ContextUnits:
    """One cited document's units; a cut at the unit bound counts as the answer's context cut."""
    units = context_units([text])
    if units.cut:
        count_cut(interaction)
    return units
