"""The check report: what ``check`` found, as data, JSON and HTML.

The report contains names, rules and counts. Its only figures computed from values are means,
standard deviations and changes of minimum and maximum, so it contains no cell value and can
be shared and stored.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta

from engine.design.html import Cell, heading, paragraph, render_table


@dataclass(frozen=True)
class Leak:
    """Distinct values of a direct-identifier column found unchanged in an output column."""

    source_table: str
    source_column: str
    rule: str
    output_table: str
    output_column: str
    values: int


@dataclass(frozen=True)
class RejectedValues:
    """Rows whose value a rule cannot process; a production run rejects the input for them."""

    table: str
    column: str
    rule: str
    rows: int


@dataclass(frozen=True)
class ForeignKeyResult:
    """Rows whose foreign key finds no parent row, before and after anonymization."""

    relation: str
    rows: int
    orphans_before: int
    orphans_after: int | None
    status: str


@dataclass(frozen=True)
class DomainCollisions:
    """Distinct inputs and pseudonyms of one key domain across all its columns."""

    domain: str
    inputs: int
    pseudonyms: int
    colliding_pseudonyms: int


@dataclass(frozen=True)
class KAnonymity:
    """Group sizes over a table's quasi-identifiers, before and after anonymization."""

    table: str
    quasi_identifiers: list[str]
    k: int
    rows: int
    groups_before: int
    smallest_group_before: int
    share_below_k_before: float
    groups_after: int
    smallest_group_after: int
    rows_below_k_after: int
    share_below_k_after: float


@dataclass(frozen=True)
class DistributionChange:
    """Summary statistics of a generalized or shifted column before and after its rule.

    Dates are in days since 1970-01-01. Minimum and maximum appear only as changes, and means
    only over at least k values, so the report contains no single row's value.
    """

    table: str
    column: str
    rule: str
    kind: str
    count_before: int
    count_after: int
    distinct_before: int
    distinct_after: int
    mean_before: float | None = None
    mean_after: float | None = None
    stddev_before: float | None = None
    stddev_after: float | None = None
    min_change: float | None = None
    max_change: float | None = None


@dataclass
class CheckReport:
    """Everything ``check`` found; ``ok`` is True when nothing blocks a hand-over."""

    config: str
    k: int
    min_leak_length: int
    tables: list[str]
    problems: list[dict[str, object]] = field(default_factory=list)
    missing_tables: list[str] = field(default_factory=list)
    unconfigured_tables: list[str] = field(default_factory=list)
    rejected: list[RejectedValues] = field(default_factory=list)
    leaks: list[Leak] = field(default_factory=list)
    foreign_keys: list[ForeignKeyResult] = field(default_factory=list)
    collisions: list[DomainCollisions] = field(default_factory=list)
    k_anonymity: list[KAnonymity] = field(default_factory=list)
    distributions: list[DistributionChange] = field(default_factory=list)

    @property
    def columns_without_rules(self) -> list[dict[str, object]]:
        return [problem for problem in self.problems if problem["code"] == "RULE_MISSING"]

    @property
    def rules_without_columns(self) -> list[dict[str, object]]:
        return [problem for problem in self.problems if problem["code"] == "COLUMN_NOT_FOUND"]

    @property
    def broken_foreign_keys(self) -> list[ForeignKeyResult]:
        return [result for result in self.foreign_keys if result.status == "broken"]

    @property
    def colliding_domains(self) -> list[DomainCollisions]:
        return [result for result in self.collisions if result.colliding_pseudonyms]

    @property
    def ok(self) -> bool:
        """True without schema problems, missing tables, rejected values, leaks, broken joins or collisions.

        k-anonymity is reported but not part of ``ok``: on a sample of a few entities nearly
        every group is small, so the figure only means something on realistic volumes.
        """
        return not (
            self.problems
            or self.missing_tables
            or self.rejected
            or self.leaks
            or self.broken_foreign_keys
            or self.colliding_domains
        )

    def to_dict(self) -> dict[str, object]:
        result = asdict(self)
        result["ok"] = self.ok
        return result

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def _repr_html_(self) -> str:
        return _render(self)


# --- HTML -----------------------------------------------------------------------------------------


def _verdict(passed: bool) -> Cell:
    return Cell("ok" if passed else "FAILED", "good" if passed else "bad")


def _render(report: CheckReport) -> str:
    parts = [heading(f"Check of config '{report.config}' on {len(report.tables)} sample table(s)", 3)]
    parts.append(_render_summary(report))
    if report.unconfigured_tables:
        listed = ", ".join(report.unconfigured_tables)
        parts.append(paragraph(f"Sample tables that the config does not list (not checked): {listed}"))
    if report.problems:
        rows = [[p["code"], p["path"], p["message"], p["fix"]] for p in report.problems]
        parts.append(render_table([["code", "where", "problem", "fix"]], rows, caption="Schema problems"))
    if report.rejected:
        rows = [[r.table, r.column, r.rule, Cell(r.rows, "bad")] for r in report.rejected]
        caption = "Values a rule cannot process (a run would reject the input)"
        parts.append(render_table([["table", "column", "rule", "rows"]], rows, caption=caption))
    parts.append(_render_leaks(report))
    if report.foreign_keys:
        parts.append(_render_foreign_keys(report.foreign_keys))
    if report.collisions:
        parts.append(_render_collisions(report.collisions))
    if report.k_anonymity:
        parts.append(_render_k_anonymity(report.k_anonymity, report.k))
    if report.distributions:
        parts.append(_render_distributions(report.distributions))
    return "".join(parts)


def _render_summary(report: CheckReport) -> str:
    counts = [
        ("schema problems", len(report.problems)),
        ("config tables missing from the sample", len(report.missing_tables)),
        ("columns with values a rule cannot process", len(report.rejected)),
        ("leaked identifier columns", len(report.leaks)),
        ("broken foreign keys", len(report.broken_foreign_keys)),
        ("domains with colliding pseudonyms", len(report.colliding_domains)),
    ]
    rows = [[name, count, _verdict(count == 0)] for name, count in counts]
    caption = "Overall: " + ("ok" if report.ok else "FAILED")
    return render_table([["check", "count", "result"]], rows, caption=caption)


def _render_leaks(report: CheckReport) -> str:
    if not report.leaks:
        return paragraph(
            f"No original value of a direct-identifier column (values of at least "
            f"{report.min_leak_length} characters) appears in any output column."
        )
    headers = ["table", "column", "rule", "found in table", "found in column", "values"]
    rows = [
        [
            leak.source_table,
            leak.source_column,
            leak.rule,
            leak.output_table,
            leak.output_column,
            Cell(leak.values, "bad"),
        ]
        for leak in report.leaks
    ]
    caption = f"Leaks: original values of {len(report.leaks)} column pair(s)"
    return render_table([headers], rows, caption=caption)


def _render_foreign_keys(results: list[ForeignKeyResult]) -> str:
    headers = ["foreign key", "rows", "orphans before", "orphans after", "status"]
    rows = [
        [
            fk.relation,
            fk.rows,
            fk.orphans_before,
            fk.orphans_after,
            Cell(fk.status, "bad" if fk.status == "broken" else ""),
        ]
        for fk in results
    ]
    return render_table([headers], rows, caption="Foreign keys")


def _render_collisions(results: list[DomainCollisions]) -> str:
    headers = ["domain", "distinct inputs", "distinct pseudonyms", "colliding pseudonyms"]
    rows = [
        [
            c.domain,
            c.inputs,
            c.pseudonyms,
            Cell(c.colliding_pseudonyms, "bad" if c.colliding_pseudonyms else ""),
        ]
        for c in results
    ]
    return render_table([headers], rows, caption="Pseudonym collisions per key domain")


def _render_k_anonymity(results: list[KAnonymity], k: int) -> str:
    headers = [
        "table",
        "quasi-identifiers",
        "rows",
        "smallest group before",
        f"rows in groups < {k} before",
        "smallest group after",
        f"rows in groups < {k} after",
    ]
    rows = [
        [
            ka.table,
            ", ".join(ka.quasi_identifiers),
            ka.rows,
            ka.smallest_group_before,
            f"{ka.share_below_k_before:.1%}",
            ka.smallest_group_after,
            Cell(f"{ka.share_below_k_after:.1%}", "bad" if ka.rows_below_k_after else "good"),
        ]
        for ka in results
    ]
    return render_table([headers], rows, caption=f"k-anonymity (k = {k}) on the sample")


def _as_date(days: float | None) -> str | None:
    if days is None:
        return None
    return (date(1970, 1, 1) + timedelta(days=days)).isoformat()


def _render_distributions(changes: list[DistributionChange]) -> str:
    headers = [
        "table",
        "column",
        "rule",
        "values before",
        "values after",
        "distinct before",
        "distinct after",
        "mean before",
        "mean after",
        "stddev before",
        "stddev after",
        "min moved by",
        "max moved by",
    ]
    rows = []
    for change in changes:
        is_date = change.kind == "date"
        unit = " days" if is_date else ""
        means = [_as_date(mean) if is_date else mean for mean in (change.mean_before, change.mean_after)]
        moves = [
            None if move is None else f"{move:+g}{unit}" for move in (change.min_change, change.max_change)
        ]
        rows.append(
            [
                change.table,
                change.column,
                change.rule,
                change.count_before,
                change.count_after,
                change.distinct_before,
                change.distinct_after,
                *means,
                change.stddev_before,
                change.stddev_after,
                *moves,
            ]
        )
    return render_table([headers], rows, caption="Distribution of generalized and shifted columns")
