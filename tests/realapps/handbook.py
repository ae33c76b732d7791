"""The employee handbook the real-application matrix runs on: 12 documents and 18 questions.

The documents carry the metadata a company index has (source file, title, version, updated_at,
status, acl) and the traps a real index has: a version marked superseded, an older version that is
*not* marked (re-indexing appended it instead of replacing it), and a document only HR may read.
Chroma accepts only scalar metadata, so ``acl`` is a comma-separated string, as people store it.

Each question has the answer the scripted model gives: 8 correct ones (one a correct abstention) and
10 planted faults, one per kind. Nothing here is shaped by mre's scorers: the answers are what a
model that copies, paraphrases or slips would write.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class HandbookDoc:
    id: str
    text: str
    source: str
    title: str
    version: int
    updated_at: str
    acl: str = "all"
    status: str | None = None  # most documents say nothing; one is marked superseded
    superseded_by: str | None = None

    def metadata(self) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "source": self.source,
            "title": self.title,
            "version": self.version,
            "updated_at": self.updated_at,
            "acl": self.acl,
        }
        if self.status is not None:
            meta["status"] = self.status
        if self.superseded_by is not None:
            meta["superseded_by"] = self.superseded_by
        return meta


DOCUMENTS: tuple[HandbookDoc, ...] = (
    HandbookDoc(
        "annual-leave-v3",
        "Full-time employees receive 25 days of paid annual leave per calendar year. Part-time employees "
        "receive leave in proportion to their contracted hours. Up to 5 unused days may be carried over to "
        "the next year, except for employees on fixed-term contracts.",
        "handbook/annual-leave.md",
        "Annual leave",
        3,
        "2024-01-15",
    ),
    HandbookDoc(
        "annual-leave-v2",
        "Full-time employees receive 22 days of paid annual leave per calendar year. Up to 3 unused days "
        "may be carried over to the next year.",
        "handbook/annual-leave.md",
        "Annual leave",
        2,
        "2021-01-10",
        status="superseded",
        superseded_by="annual-leave-v3",
    ),
    HandbookDoc(
        "remote-work-v1",
        "Employees may work remotely up to 2 days per week with their manager's approval. Remote work "
        "from abroad is not permitted.",
        "handbook/remote-work.md",
        "Remote work",
        1,
        "2020-06-01",
    ),
    HandbookDoc(
        "remote-work-v2",
        "Employees may work remotely up to 3 days per week with their manager's approval. Remote work "
        "from abroad is allowed for up to 20 working days per year, except in countries under travel "
        "restrictions.",
        "handbook/remote-work.md",
        "Remote work",
        2,
        "2024-03-01",
    ),
    HandbookDoc(
        "expenses-v1",
        "Hotel costs are reimbursed up to $180 per night in most cities and up to $250 per night in "
        "London, Paris and New York. Meal expenses are reimbursed up to $60 per day. Alcohol is not "
        "reimbursed.",
        "handbook/expenses.md",
        "Travel expenses",
        1,
        "2023-05-01",
    ),
    HandbookDoc(
        "parental-leave-v1",
        "Birth parents receive 20 weeks of fully paid parental leave. Other parents receive 12 weeks of "
        "fully paid parental leave. Parental leave must be taken within 18 months of the birth or adoption.",
        "handbook/parental-leave.md",
        "Parental leave",
        1,
        "2023-09-01",
    ),
    HandbookDoc(
        "sick-leave-v1",
        "Employees must notify their manager before 10:00 on the first day of sickness. A medical "
        "certificate is required for absences longer than 3 consecutive days.",
        "handbook/sick-leave.md",
        "Sick leave",
        1,
        "2022-11-01",
    ),
    HandbookDoc(
        "equipment-v1",
        "New employees receive a laptop and a monitor on their first day. Laptops are replaced every 4 "
        "years. Personal devices may not be used to access customer data.",
        "handbook/equipment.md",
        "Equipment",
        1,
        "2024-06-01",
    ),
    HandbookDoc(
        "security-v1",
        "Passwords must be at least 14 characters long. Multi-factor authentication is mandatory for all "
        "company accounts. Lost or stolen devices must be reported to the security team within 1 hour.",
        "handbook/security.md",
        "Information security",
        1,
        "2024-02-01",
    ),
    HandbookDoc(
        "learning-v1",
        "Each employee has a learning budget of $1,500 per year for courses, books and conferences. "
        "Unused budget does not carry over. Certifications required for the role are paid separately.",
        "handbook/learning.md",
        "Learning budget",
        1,
        "2024-01-01",
    ),
    HandbookDoc(
        "salary-bands-v1",
        "The salary band for senior engineers is $140,000 to $175,000. The salary band for engineering "
        "managers is $160,000 to $195,000. Band positions are reviewed every April.",
        "hr/salary-bands.md",
        "Salary bands",
        1,
        "2024-04-01",
        acl="hr,leadership",
    ),
    HandbookDoc(
        "overtime-v1",
        "Overtime must be approved in advance by a manager. Overtime is compensated at 1.5 times the hourly "
        "rate, or as time off in lieu at the employee's choice. Managers are not eligible for overtime pay.",
        "handbook/overtime.md",
        "Overtime",
        1,
        "2023-02-15",
    ),
)

# The planted fault kinds, one question each.
FAULT_KINDS = (
    "invented_number",
    "wrong_unit",
    "dropped_carve_out",
    "flipped_negation",
    "unsupported_addition",
    "needless_abstention",
    "should_have_abstained",
    "superseded_marked",
    "superseded_unmarked",
    "permission_leak",
)


@dataclass(frozen=True)
class Case:
    question: str
    answer: str
    fault: str | None = None  # None: a correct answer
    user: str = "employee-4711"  # who asks; the salary bands are for HR only


CASES: tuple[Case, ...] = (
    # --- correct answers ------------------------------------------------------------------------
    Case(
        "How many days of paid annual leave do full-time employees get?",
        "Full-time employees receive 25 days of paid annual leave per calendar year.",
    ),
    Case("How often are laptops replaced?", "Laptops are replaced every 4 years."),
    Case("How long must passwords be?", "Passwords must be at least 14 characters long."),
    Case(
        "When is a medical certificate required for sick leave?",
        "A medical certificate is required when you are absent for longer than 3 consecutive days.",
    ),
    Case(
        "How large is the yearly learning budget?",
        "Each employee has a learning budget of $1,500 per year, which covers courses, books and conferences.",
    ),
    Case(
        "How is overtime compensated?",
        "Overtime is compensated at 1.5 times the hourly rate, or as time off in lieu if the employee prefers.",
    ),
    Case(
        "Can I bring my dog to the office?",
        "I don't know: the handbook does not say anything about bringing pets to the office.",
    ),
    Case(
        "How many weeks of parental leave do birth parents get?",
        "Birth parents receive 20 weeks of fully paid parental leave, to be taken within 18 months of the birth.",
    ),
    # --- planted faults -------------------------------------------------------------------------
    Case(
        "How much are meal expenses reimbursed per day?",
        "Meal expenses are reimbursed up to $75 per day.",
        "invented_number",
    ),
    Case(
        "How soon must a lost laptop be reported to the security team?",
        "Lost or stolen devices must be reported to the security team within 1 day.",
        "wrong_unit",
    ),
    Case(
        "Can I work remotely from abroad?",
        "Yes, remote work from abroad is allowed for up to 20 working days per year.",
        "dropped_carve_out",
    ),
    Case(
        "Can I use my personal phone to access customer data?",
        "Yes, personal devices may be used to access customer data.",
        "flipped_negation",
    ),
    Case(
        "Who has to approve overtime?",
        "Overtime must be approved in advance by a manager. HR must also sign off on more than 10 hours of "
        "overtime per month.",
        "unsupported_addition",
    ),
    Case(
        "Is multi-factor authentication required for company accounts?",
        "I'm sorry, I could not find that information in the handbook.",
        "needless_abstention",
    ),
    Case(
        "What is the dress code for client meetings?",
        "Business attire is required for all client meetings, and jeans are allowed on Fridays.",
        "should_have_abstained",
    ),
    Case(
        "How many unused annual leave days can I carry over to next year?",
        "Up to 3 unused days may be carried over to the next year.",
        "superseded_marked",
    ),
    Case(
        "How many days per week can I work remotely?",
        "Employees may work remotely up to 2 days per week with their manager's approval.",
        "superseded_unmarked",
    ),
    Case(
        "What is the salary band for senior engineers?",
        "The salary band for senior engineers is $140,000 to $175,000.",
        "permission_leak",
    ),
)

assert sorted(c.fault for c in CASES if c.fault) == sorted(FAULT_KINDS)
assert sum(1 for c in CASES if c.fault is None) == 8


def case_for(text: str) -> Case | None:
    """The case whose question appears in ``text`` (a prompt, a query): the longest one wins."""
    found = [c for c in CASES if c.question in text]
    return max(found, key=lambda c: len(c.question)) if found else None
