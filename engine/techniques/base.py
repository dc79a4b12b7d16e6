"""The contract every technique implements, and the generic parameter checks they share."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql import types as T

from engine.config.model import Domain, Rule, TableConfig


@dataclass(frozen=True)
class Param:
    """One parameter of a technique: its accepted YAML types, default and allowed values."""

    name: str
    types: tuple[type, ...]
    required: bool = False
    default: Any = None
    choices: tuple[Any, ...] = ()
    doc: str = ""


@dataclass(frozen=True)
class Finding:
    """A problem a technique found in one rule; the validator adds file, line and path."""

    code: str
    message: str
    fix: str = ""
    param: str | None = None


@dataclass
class BuildContext:
    """Inputs a technique builds its Column from: the schema, domains and key columns, never files or the master key."""

    table: TableConfig
    schema: T.StructType
    domains: dict[str, Domain]
    # (purpose, domain) -> inner and outer padded HMAC keys, as columns of the key table.
    hmac_key: Callable[[str, str], tuple[Column, Column]] = field(repr=False)

    def field(self, name: str) -> T.StructField | None:
        """Return the source field named ``name``, matched case-insensitively."""
        wanted = name.lower()
        for candidate in self.schema.fields:
            if candidate.name.lower() == wanted:
                return candidate
        return None


class Technique:
    """Base class: subclasses set ``name``, ``summary`` and ``params`` and implement ``build``."""

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    params: ClassVar[tuple[Param, ...]] = ()
    # Techniques that keep source values as they are; the leak checks treat them differently.
    keeps_values: ClassVar[bool] = False

    def param(self, rule: Rule, name: str) -> Any:
        """Return the value of parameter ``name`` in ``rule``, or its default."""
        if name in rule.params:
            return rule.params[name]
        return next(param.default for param in self.params if param.name == name)

    def check_params(self, params: dict[str, Any]) -> list[Finding]:
        """Check parameter names, types and choices; technique-free, so shared by all."""
        findings: list[Finding] = []
        known = {param.name: param for param in self.params}
        for name, value in params.items():
            param = known.get(name)
            if param is None:
                findings.append(_unknown_param(self, name))
                continue
            findings.extend(_check_value(self, param, value))
        for param in self.params:
            if param.required and param.name not in params:
                findings.append(
                    Finding(
                        "PARAM_MISSING",
                        f"technique '{self.name}' requires parameter '{param.name}'",
                        f"add '{param.name}:' ({param.doc})",
                    )
                )
        if not findings:
            findings.extend(self.check_combination(params))
        return findings

    def check_combination(self, params: dict[str, Any]) -> list[Finding]:
        """Check rules that involve several parameters at once; no schema needed."""
        return []

    def check_field(self, rule: Rule, field: T.StructField, ctx: BuildContext) -> list[Finding]:
        """Check the rule against the source column it applies to."""
        return []

    def build(self, value: Column, field: T.StructField, rule: Rule, ctx: BuildContext) -> Column | None:
        """Return the output Column for this column, or None to leave the column out."""
        raise NotImplementedError

    def invalid(self, value: Column, field: T.StructField, rule: Rule, ctx: BuildContext) -> Column | None:
        """Return a boolean Column, true on rows the rule cannot process, or None if none exist."""
        return None

    def rejection(self, rule: Rule) -> Finding:
        """Describe the values ``invalid`` flags, and the fix, for the pre-write check's message."""
        return Finding("VALUE_REJECTED", "wrong format for the rule or its domain",
                       "fix the source rows, or adjust the rule (date format, domain type)")


def _unknown_param(technique: Technique, name: str) -> Finding:
    names = [param.name for param in technique.params]
    close = difflib.get_close_matches(name, names, n=1)
    allowed = ", ".join(names) if names else "none"
    fix = f"did you mean '{close[0]}'?" if close else f"allowed parameters: {allowed}"
    return Finding(
        "PARAM_UNKNOWN",
        f"technique '{technique.name}' has no parameter '{name}'",
        fix,
        param=name,
    )


def _type_names(types: tuple[type, ...]) -> str:
    words = {str: "text", int: "integer", float: "number", bool: "true/false", list: "list",
             dict: "mapping", type(None): "nothing"}
    return " or ".join(words.get(kind, kind.__name__) for kind in types)


def _check_value(technique: Technique, param: Param, value: Any) -> list[Finding]:
    # YAML booleans are ints in Python; an integer parameter must not accept `true`.
    wrong_bool = isinstance(value, bool) and bool not in param.types
    if wrong_bool or not isinstance(value, param.types):
        return [
            Finding(
                "PARAM_TYPE",
                f"parameter '{param.name}' of '{technique.name}' must be "
                f"{_type_names(param.types)}, got {_type_names((type(value),))}",
                f"set '{param.name}' to {param.doc or _type_names(param.types)}",
                param=param.name,
            )
        ]
    if param.choices and value not in param.choices:
        close = difflib.get_close_matches(str(value), [str(c) for c in param.choices], n=1)
        allowed = ", ".join(str(choice) for choice in param.choices)
        hint = f"did you mean '{close[0]}'? " if close else ""
        return [
            Finding(
                "PARAM_CHOICE",
                f"parameter '{param.name}' of '{technique.name}' must be one of: {allowed}",
                f"{hint}use one of: {allowed}",
                param=param.name,
            )
        ]
    return []


def column_ref(name: str) -> Column:
    """Return the source column ``name`` as a Column, quoted so that dots and spaces stay in the name."""
    return F.col("`" + name.replace("`", "``") + "`")
