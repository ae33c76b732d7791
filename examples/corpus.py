"""The bundled corpus: dated policy documents (some superseded, some drafts) and demo questions."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any


@dataclass(frozen=True, slots=True)
class PolicyDoc:
    id: str
    family: str
    title: str
    version: int
    updated_at: str
    status: str  # current | superseded | draft
    text: str
    superseded_by: str | None
    acl: tuple[str, ...]

    def metadata(self) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "source": self.title,
            "family": self.family,
            "version": self.version,
            "updated_at": self.updated_at,
            "status": self.status,
            "acl": list(self.acl),
        }
        if self.superseded_by:
            meta["superseded_by"] = self.superseded_by
        return meta


@dataclass(frozen=True, slots=True)
class Corpus:
    documents: tuple[PolicyDoc, ...]
    questions: tuple[str, ...]  # answerable from the current documents
    off_corpus_questions: tuple[str, ...]  # nothing in the corpus answers them


@lru_cache(maxsize=1)
def load_corpus() -> Corpus:
    raw = json.loads(resources.files("mre.examples").joinpath("corpus.json").read_text("utf-8"))
    docs = tuple(
        PolicyDoc(
            id=d["id"],
            family=d["family"],
            title=d["title"],
            version=int(d["version"]),
            updated_at=d["updated_at"],
            status=d["status"],
            text=d["text"],
            superseded_by=d.get("superseded_by"),
            acl=tuple(d.get("acl") or ()),
        )
        for d in raw["documents"]
    )
    return Corpus(
        documents=docs,
        questions=tuple(q["question"] for q in raw["questions"]),
        off_corpus_questions=tuple(raw["off_corpus_questions"]),
    )
