"""Document metadata: the keys reliability scoring reads, mapped from the names an index uses.

Scoring reads ``updated_at``, ``version``, ``superseded_by``, ``status``, ``acl``, ``source`` and
``family``. Indexes call them other things; the mapping says what (``MRE_METADATA_KEYS`` or
``mre serve --metadata-keys``), e.g. ``updated_at=last_modified,acl=allowed_groups``. A few names
the common loaders write are understood without a mapping (LlamaIndex's file readers write
``last_modified_date`` and ``file_path``). The originals are kept; a configured name wins over an alias.
Both the instrumentation (before recording) and the processor (for every dialect) apply it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Final

from mre import semconv as sc

ENV_METADATA_KEYS: Final = "MRE_METADATA_KEYS"
META_FAMILY: Final = "family"
# The ``source`` of passages read from a prompt (no retrieval captured them): they have no family.
PROMPT_SOURCE: Final = "prompt"
KEYS: Final = (
    sc.META_UPDATED_AT,
    sc.META_VERSION,
    sc.META_SUPERSEDED_BY,
    sc.META_STATUS,
    sc.META_ACL,
    sc.META_SOURCE,
    META_FAMILY,
)
# Names that the usual document loaders write, read when the index has no configured name.
ALIASES: Final[Mapping[str, tuple[str, ...]]] = {
    sc.META_UPDATED_AT: ("last_modified", "last_modified_date", "modified_at", "updated", "lastmod"),
    sc.META_SOURCE: ("file_path", "url"),
    sc.META_ACL: ("allowed_groups",),
}

_ALIAS_NAMES: Final = frozenset(name for names in ALIASES.values() for name in names)


def parse_metadata_keys(raw: str) -> dict[str, str]:
    """``"updated_at=last_modified, acl=allowed_groups"`` -> ``{"updated_at": "last_modified", ...}``.

    Raises ValueError naming the bad pair and the keys scoring reads."""
    mapping: dict[str, str] = {}
    for pair in (p.strip() for p in raw.split(",")):
        if not pair:
            continue
        ours, sep, theirs = (part.strip() for part in pair.partition("="))
        if not sep or not ours or not theirs:
            raise ValueError(f"metadata key mapping {pair!r}: expected OURS=THEIRS, e.g. updated_at=last_modified")
        if ours not in KEYS:
            raise ValueError(f"metadata key mapping {pair!r}: {ours!r} is not one of {', '.join(KEYS)}")
        mapping[ours] = theirs
    return mapping


def metadata_keys_from_env() -> dict[str, str]:
    """The mapping in ``MRE_METADATA_KEYS`` (a bad value raises ValueError with the reason)."""
    return parse_metadata_keys(os.environ.get(ENV_METADATA_KEYS, ""))


def normalize_metadata(metadata: Mapping[str, Any], mapping: Mapping[str, str]) -> Mapping[str, Any]:
    """A copy with the configured (or usual) names also under the names scoring reads; ``metadata``
    itself when nothing applies (most documents, most of the time)."""
    if not mapping and metadata.keys().isdisjoint(_ALIAS_NAMES):
        return metadata  # nothing to map: no configured names, and none of the usual ones (per document)
    out: dict[str, Any] | None = None
    for ours in KEYS:
        if ours in metadata:
            continue
        candidates = (mapping[ours],) if ours in mapping else ALIASES.get(ours, ())
        for theirs in candidates:
            if theirs in metadata:
                out = dict(metadata) if out is None else out
                out[ours] = metadata[theirs]
                break
    return metadata if out is None else out
