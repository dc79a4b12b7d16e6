"""Draft a rule file from column names and sampled values, for a human to review.

Each column gets one proposed rule with a reason and a confidence (see
``engine.design.proposals``). Ids become pseudonyms in one domain per referenced table, so
that foreign keys found in the data keep joining. The YAML starts with ``draft: true``, which
makes the production job reject it until someone has read every rule and deleted that line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame

from engine.config import Config, config_from_text
from engine.design.html import Cell, render_table
from engine.design.profile import profile_tables
from engine.design.proposals import (
    HIGH,
    LOW,
    MEDIUM,
    Domains,
    Proposal,
    date_owner,
    key_domain,
    propose,
    table_facts,
)
from engine.design.relations import Relation, check_relations, find_relations, key_columns
from engine.design.sampler import Sample

_YAML_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"}


@dataclass
class Draft:
    """A proposed config: domains, one rule per column, and the relations it was built on."""

    name: str
    source: dict[str, str]
    target: dict[str, str]
    key_env: str
    domains: dict[str, dict[str, Any]]
    proposals: list[Proposal]
    relations: list[Relation] = field(default_factory=list)

    def table_names(self) -> list[str]:
        return list(dict.fromkeys(proposal.table for proposal in self.proposals))

    def quasi_identifiers(self, table: str) -> list[str]:
        return [p.column for p in self.proposals if p.table == table and p.quasi_identifier]

    def to_yaml(self) -> str:
        """Return the draft as rule-file text, with a comment on every proposed rule."""
        lines = [
            f"# Draft rules for '{self.name}', proposed from column names and sampled values.",
            "# Review every rule and its comment, then delete the line 'draft: true':",
            "# the production job rejects a draft.",
            "version: 1",
            f"name: {_scalar(self.name)}",
            "draft: true",
            "key:",
            f"  env: {_scalar(self.key_env)}",
            "source:",
            *[f"  {key}: {_scalar(value)}" for key, value in self.source.items()],
            "target:",
            *[f"  {key}: {_scalar(value)}" for key, value in self.target.items()],
            "",
            "domains:",
            *[f"  {_scalar(name)}: {_flow(settings)}" for name, settings in self.domains.items()],
            "",
            "tables:",
        ]
        for table in self.table_names():
            lines.append(f"  {_scalar(table)}:")
            quasi = self.quasi_identifiers(table)
            if quasi:
                lines.append(f"    quasi_identifiers: {_flow(quasi)}")
            lines.append("    columns:")
            for proposal in (p for p in self.proposals if p.table == table):
                rule = (
                    _scalar(proposal.technique)
                    if not proposal.params
                    else _flow({proposal.technique: proposal.params})
                )
                comment = f"{proposal.reason} (confidence: {proposal.confidence})".replace("\n", " ")
                lines.append(f"      {_scalar(proposal.column)}: {rule}  # {comment}")
        return "\n".join(lines) + "\n"

    @property
    def config(self) -> Config:
        """The draft loaded by the production loader (raises ConfigError if it were invalid)."""
        return config_from_text(self.to_yaml(), f"<draft {self.name}>")

    def save(self, path: str | Path) -> Path:
        """Write the YAML to ``path`` and return the path."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(self.to_yaml(), encoding="utf-8")
        return target

    def _repr_html_(self) -> str:
        rows = []
        for p in self.proposals:
            rule = p.technique if not p.params else f"{p.technique} {json.dumps(p.params, sort_keys=True)}"
            css = {HIGH: "good", MEDIUM: "", LOW: "changed"}[p.confidence]
            rows.append(
                [
                    p.table,
                    p.column,
                    rule,
                    Cell(p.confidence, css),
                    p.reason,
                    "yes" if p.quasi_identifier else "",
                ]
            )
        caption = (
            f"Draft '{self.name}': {len(self.proposals)} proposed rule(s), {len(self.domains)} domain(s), "
            f"{len(self.relations)} foreign key(s)"
        )
        return render_table(
            [["table", "column", "rule", "confidence", "reason", "quasi-identifier"]], rows, caption=caption
        )


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    text = str(value)
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", text) and text.lower() not in _YAML_WORDS:
        return text
    # A JSON string is also a valid double-quoted YAML scalar.
    return json.dumps(text, ensure_ascii=False)


def _flow(value: object) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_scalar(key)}: {_flow(item)}" for key, item in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_flow(item) for item in value) + "]"
    return _scalar(value)


def draft_config(
    tables: Mapping[str, DataFrame],
    name: str,
    source_path: str,
    source_format: str = "csv",
    target_path: str | None = None,
    key_env: str = "ANON_KEY",
    relations: Sequence[Relation] | None = None,
) -> Draft:
    """Propose a rule for every column of ``tables`` and return the draft config.

    Pass a sample (see ``sample``): profiling reads every row given. ``relations`` default to
    those of a ``Sample``, else to ``find_relations(tables)``; a column that references a
    table's key shares that table's domain. ``source_path`` and ``target_path`` go into the
    YAML as they are.
    """
    if relations is None:
        relations = tables.relations if isinstance(tables, Sample) else find_relations(tables)
    check_relations(tables, relations)
    profiles = profile_tables(tables)
    keys = {relation.parent: relation.key for relation in relations}
    for table, column in key_columns({t: f for t, f in tables.items() if t not in keys}).items():
        keys[table] = column
    domains = Domains()
    key_domains = {
        table: key_domain(domains, table, profiles[table][column]) for table, column in keys.items()
    }
    facts = {table: table_facts(table, profiles[table], keys, relations, key_domains) for table in tables}
    for known in facts.values():
        known.date_owner = date_owner(known, facts, key_domains)
    proposals = []
    for table, known in facts.items():
        for column in tables[table].columns:
            proposals.append(propose(known, known.profiles[column], domains, key_domains))
    source = {"format": source_format, "path": source_path}
    target = {"path": target_path or f"lake/{name}", "mode": "overwrite"}
    return Draft(name, source, target, key_env, domains.settings, proposals, list(relations))
