"""Sensitive content: detection of PII and secrets, and redaction into typed placeholders.

Shared by the instrumentation (redact before anything is recorded) and the processor's safety scorer
(find it in answers), so both agree on what counts: emails, phone numbers, card numbers that pass
Luhn, national ids (US SSN, UK NINO, IBAN), API keys, tokens and private keys.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

PII_EMAIL = "pii.email"
PII_PHONE = "pii.phone"
PII_CARD = "pii.card"
PII_NATIONAL_ID = "pii.national_id"
SECRET = "secret"


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    start: int
    end: int


# Every quantifier is bounded and possessive (Python 3.11: no backtracking into it), and every
# pattern starts at a word boundary or a literal: the scan is linear in the text (tests/test_hostile.py
# feeds each the shapes that made the unbounded versions quadratic).
_EMAIL = re.compile(r"\b[\w.+-]{1,64}+@[\w-]{1,63}+(?:\.[\w-]{1,63}+){0,8}\.[A-Za-z]{2,24}\b")
_PHONE = re.compile(
    r"(?<![\w.])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)[\s.-]?)?\d{3,4}[\s.-]\d{3,4}(?:[\s.-]\d{2,4})?(?![\w.])"
)
_CARD = re.compile(r"(?<!\d)(?:\d[ -]?){13,19}(?!\d)")
_NATIONAL_IDS = (
    re.compile(r"\b(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}\b"),  # US SSN
    re.compile(r"\b[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]\s?\d{2}\s?\d{2}\s?\d{2}\s?[A-D]\b"),  # UK NINO
    re.compile(r"\b[A-Z]{2}\d{2}(?:\s?[A-Z0-9]{4}){3,7}\b"),  # IBAN
)
# Each secret's pattern with the literals one of which every match holds. A pattern that opens with
# \b gets no literal-prefix search from the regex engine, so its scan tries every position of the text
# (~28 us on 2 KB each, timeit); a text holding none of its literals is not scanned (0.1 us).
_SECRETS: tuple[tuple[tuple[str, ...], re.Pattern[str]], ...] = (
    (("sk-",), re.compile(r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_\-]{20,256}+\b")),  # OpenAI / Anthropic keys
    (("AKIA",), re.compile(r"\bAKIA[0-9A-Z]{16}\b")),  # AWS access key id
    (tuple(f"gh{c}_" for c in "pousr"), re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,255}+\b")),  # GitHub tokens
    (("xox",), re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,255}+\b")),  # Slack tokens
    (
        ("eyJ",),
        re.compile(r"\beyJ[A-Za-z0-9_-]{10,4096}+\.eyJ[A-Za-z0-9_-]{10,4096}+\.[A-Za-z0-9_-]{10,4096}+\b"),
    ),  # JWT
    (("-----BEGIN",), re.compile(r"-----BEGIN (?:RSA |EC |OPENSSH )?PRIVATE KEY-----")),
    (("AIza",), re.compile(r"\bAIza[0-9A-Za-z_\-]{35}\b")),  # Google API key
)
_DIGIT = re.compile(r"\d")
_ASCII_DIGITS = "0123456789"
# The fewest digits a match holds (\d: any script's decimal digits): a card 13, a US SSN 9, a UK NINO 6,
# an IBAN 2, a phone number 8 (its check below). A text with fewer is not scanned for it.
CARD_DIGITS, SSN_DIGITS, NINO_DIGITS, IBAN_DIGITS, PHONE_DIGITS = 13, 9, 6, 2, 8


def _digits(text: str) -> int:
    """How many characters of ``text`` \\d matches (ASCII text: ten C-level counts, no regex pass)."""
    if text.isascii():
        return sum(map(text.count, _ASCII_DIGITS))
    return len(text) - len(_DIGIT.sub("", text))


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def find_sensitive(text: str) -> list[Finding]:
    """PII and secrets in ``text`` (shared with redaction)."""
    found: list[Finding] = []
    if "@" in text:  # every email holds one
        for m in _EMAIL.finditer(text):
            found.append(Finding(PII_EMAIL, m.start(), m.end()))
    held = _digits(text)
    if held >= CARD_DIGITS:
        for m in _CARD.finditer(text):
            digits = re.sub(r"\D", "", m.group())
            if 13 <= len(digits) <= 19 and luhn_valid(digits):
                found.append(Finding(PII_CARD, m.start(), m.end()))
    for fewest, pattern in zip((SSN_DIGITS, NINO_DIGITS, IBAN_DIGITS), _NATIONAL_IDS, strict=True):
        if held >= fewest:
            for m in pattern.finditer(text):
                found.append(Finding(PII_NATIONAL_ID, m.start(), m.end()))
    for marks, pattern in _SECRETS:
        if any(mark in text for mark in marks):
            for m in pattern.finditer(text):
                found.append(Finding(SECRET, m.start(), m.end()))
    if held >= PHONE_DIGITS:  # last: a phone number is only what no other finding already covers
        taken = [(f.start, f.end) for f in found]
        for m in _PHONE.finditer(text):
            digits = re.sub(r"\D", "", m.group())
            overlaps = any(m.start() < end and start < m.end() for start, end in taken)
            if 8 <= len(digits) <= 15 and not overlaps:
                found.append(Finding(PII_PHONE, m.start(), m.end()))
    return sorted(found, key=lambda f: f.start)


PLACEHOLDERS = {
    PII_EMAIL: "[EMAIL]",
    PII_PHONE: "[PHONE]",
    PII_CARD: "[CARD]",
    PII_NATIONAL_ID: "[NATIONAL_ID]",
    SECRET: "[SECRET]",
}


def redact_text(text: str, extra: Iterable[tuple[str, re.Pattern[str]]] = ()) -> str:
    """Replace every finding by its typed placeholder; ``extra`` adds (placeholder, pattern) pairs."""
    spans = [(f.start, f.end, PLACEHOLDERS[f.kind]) for f in find_sensitive(text)]
    for placeholder, pattern in extra:
        spans.extend((m.start(), m.end(), placeholder) for m in pattern.finditer(text))
    if not spans:
        return text
    out, position = [], 0
    for start, end, placeholder in sorted(spans):
        if start < position:
            continue  # overlapping findings: the first one wins
        out.append(text[position:start])
        out.append(placeholder)
        position = end
    out.append(text[position:])
    return "".join(out)


def redactor(patterns: Iterable[tuple[str, str]] = ()) -> Callable[[str], str]:
    """A redaction hook: the built-in kinds plus user patterns as (placeholder, regex) pairs."""
    compiled = [(placeholder, re.compile(regex)) for placeholder, regex in patterns]
    return lambda text: redact_text(text, compiled)
