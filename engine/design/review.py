"""Comparing two configs rule by rule, and saving a reviewed config after a last validation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pyspark.sql import DataFrame

from engine.compile import check_table_schema
from engine.config import Config, TableConfig, config_from_text
from engine.design.html import Cell, render_table
from engine.design.plans import describe_rule
from engine.errors import ConfigError, Problem


@dataclass(frozen=True)
class RuleChange:
    """The rule of one column in two configs; ``status`` is same, changed, added or removed."""

    table: str
    column: str
    before: str
    after: str
    status: str


@dataclass
class RuleDiff:
    """Every column's rule in two configs, as a reviewer reads a draft against its edit."""

    before: str
    after: str
    changes: list[RuleChange] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for change in self.changes if change.status == status)

    def _repr_html_(self) -> str:
        differing = [c for c in self.changes if c.status != "same"]
        rows = [[c.table, c.column, c.before, Cell(c.after, "changed"), c.status] for c in differing]
        caption = (
            f"{self.before} -> {self.after}: {self.count('changed')} changed, {self.count('added')} added, "
            f"{self.count('removed')} removed, {self.count('same')} unchanged rule(s)"
        )
        return render_table([["table", "column", self.before, self.after, "status"]], rows, caption=caption)


def rule_diff(before: Config, after: Config) -> RuleDiff:
    """Compare the rules of two configs column by column (names match case-insensitively).

    The configs are labelled by their file names, as two versions usually share one name.
    """
    diff = RuleDiff(before.file or before.name, after.file or after.name)
    for table in list(dict.fromkeys([*before.tables, *after.tables])):
        old = before.tables.get(table)
        new = after.tables.get(table)
        columns = [*(old.rules if old else {}), *(new.rules if new else {})]
        seen: set[str] = set()
        for column in columns:
            if column.lower() in seen:
                continue
            seen.add(column.lower())
            old_rule = old.rule_for(column) if old else None
            new_rule = new.rule_for(column) if new else None
            old_text, new_text = describe_rule(old_rule), describe_rule(new_rule)
            if old_rule is None:
                status = "added"
            elif new_rule is None:
                status = "removed"
            else:
                status = "same" if old_text == new_text else "changed"
            diff.changes.append(RuleChange(table, column, old_text, new_text, status))
        quasi = _quasi_identifiers_change(table, old, new)
        if quasi is not None:
            diff.changes.append(quasi)
    return diff


def _quasi_identifiers_change(
    table: str, old: TableConfig | None, new: TableConfig | None
) -> RuleChange | None:
    """Compare the quasi-identifier lists of one table, as a row named ``(quasi-identifiers)``."""
    before = list(old.quasi_identifiers) if old else []
    after = list(new.quasi_identifiers) if new else []
    if not before and not after:
        return None
    if not before:
        status = "added"
    elif not after:
        status = "removed"
    else:
        status = "same" if before == after else "changed"
    return RuleChange(table, "(quasi-identifiers)", ", ".join(before), ", ".join(after), status)


def save_config(text: str, path: str | Path, tables: Mapping[str, DataFrame] | None = None) -> Config:
    """Validate a reviewed config and write it to ``path``; return the loaded Config.

    Raises ConfigError, and writes nothing, if the text does not load, is still a draft, or
    (when ``tables`` are given) does not fit their schemas.
    """
    target = Path(path)
    config = config_from_text(text, str(target))
    problems: list[Problem] = []
    if config.draft:
        problems.append(
            Problem(
                code="CONFIG_IS_DRAFT",
                message="the config is still a draft",
                fix="review every rule, then delete the line 'draft: true'",
                file=str(target),
                path="draft",
            )
        )
    for name, table in config.tables.items():
        if tables is not None and name in tables:
            problems.extend(check_table_schema(table, tables[name].schema, config))
    if problems:
        raise ConfigError(problems)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return config
