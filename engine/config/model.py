"""Typed config objects. Each one remembers where it came from (file, line, key path)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SOURCE_FORMATS = ("csv", "parquet", "delta", "table")
WRITE_MODES = ("overwrite", "append", "error")
DOMAIN_TYPES = ("string", "integer")
OUTPUT_FORMATS = ("hex", "base32", "integer")
CASE_MODES = ("preserve", "fold")
NORMAL_FORMS = ("nfc", "none")


@dataclass(frozen=True)
class Where:
    """Place of a node in the rule file."""

    file: str
    line: int | None
    path: str

    def __str__(self) -> str:
        line = f":{self.line}" if self.line is not None else ""
        return f"{self.file}{line}: {self.path}"


@dataclass(frozen=True)
class KeySource:
    """Location of the master key: an environment variable or a file, never the key itself."""

    env: str | None
    file: str | None
    where: Where

    @property
    def description(self) -> str:
        return f"environment variable {self.env}" if self.env else f"key file {self.file}"


@dataclass(frozen=True)
class SourceSpec:
    format: str
    path: str | None
    table: str | None
    options: dict[str, str]
    # Declared Spark SQL types for CSV columns; undeclared CSV columns are read as strings.
    types: dict[str, str]
    where: Where
    # Place of each declared type in the rule file, by column name as written in 'types'.
    type_places: dict[str, Where] = field(default_factory=dict)


@dataclass(frozen=True)
class TargetSpec:
    path: str | None
    table: str | None
    mode: str
    where: Where


@dataclass(frozen=True)
class Domain:
    """A pseudonymization domain: equal canonical values in it get equal pseudonyms."""

    name: str
    type: str = "string"
    normalize: str = "nfc"
    trim: bool = True
    case: str = "preserve"
    format: str = "hex"
    prefix: str = ""
    bits: int | None = None
    key: bool = True
    where: Where | None = None


@dataclass(frozen=True)
class Rule:
    column: str
    technique: str
    params: dict[str, Any]
    where: Where


@dataclass(frozen=True)
class TableConfig:
    name: str
    source: SourceSpec
    target: TargetSpec
    rules: dict[str, Rule]
    quasi_identifiers: tuple[str, ...]
    where: Where

    def rule_for(self, column: str) -> Rule | None:
        """Return the rule of ``column``, matched case-insensitively as Spark does."""
        wanted = column.lower()
        for name, rule in self.rules.items():
            if name.lower() == wanted:
                return rule
        return None


@dataclass(frozen=True)
class Config:
    name: str
    file: str
    sha256: str
    key: KeySource
    domains: dict[str, Domain]
    tables: dict[str, TableConfig]
    draft: bool = False
    description: str = ""
    extras: dict[str, Any] = field(default_factory=dict)
