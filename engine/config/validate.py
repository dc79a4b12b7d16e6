"""Turn a parsed rule file into a typed Config, collecting every problem before raising.

Two passes: ``build_config`` checks the file on its own (no Spark needed), and
``check_schemas`` checks it against the source schemas (every column has a rule, every rule has a
column, every rule fits its column's type).
"""

from __future__ import annotations

import difflib
import re
import posixpath
from typing import Any

from engine.config.loader import Document, PathKey, format_path, load_file, load_text
from engine.config.model import (
    CASE_MODES,
    DOMAIN_TYPES,
    NORMAL_FORMS,
    OUTPUT_FORMATS,
    SOURCE_FORMATS,
    WRITE_MODES,
    Config,
    Domain,
    KeySource,
    Rule,
    SourceSpec,
    TableConfig,
    TargetSpec,
    Where,
)
from engine.errors import ConfigError, Problem

CONFIG_VERSION = 1
TOP_KEYS = ("version", "name", "description", "draft", "key", "source", "target", "domains", "tables")
SOURCE_KEYS = ("format", "path", "table", "database", "options", "types")
TARGET_KEYS = ("path", "table", "database", "mode")
TABLE_KEYS = ("source", "target", "quasi_identifiers", "columns")
DOMAIN_KEYS = ("type", "normalize", "trim", "case", "format", "prefix", "bits", "key")
CSV_DEFAULTS = {"header": "true", "delimiter": ",", "encoding": "UTF-8", "quote": '"', "escape": '"'}


def _suggest(name: str, choices: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1)
    if close:
        return f"did you mean '{close[0]}'?"
    return f"allowed: {', '.join(choices)}" if choices else ""


class _Builder:
    """Walks the document, building model objects and recording problems as it goes."""

    def __init__(self, document: Document) -> None:
        self.doc = document
        self.problems: list[Problem] = []

    def where(self, path: PathKey) -> Where:
        return Where(self.doc.file, self.doc.line_of(path), format_path(path))

    def report(self, path: PathKey, code: str, message: str, fix: str = "") -> None:
        self.problems.append(self.doc.problem(path, code, message, fix))

    def mapping(self, value: Any, path: PathKey, keys: tuple[str, ...] | None) -> dict[str, Any]:
        """Return ``value`` as a mapping, reporting keys not in ``keys`` (None allows any)."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.report(path, "WRONG_TYPE", f"expected a mapping, got {_kind(value)}",
                        f"write '{format_path(path)}' as key: value lines")
            return {}
        for key in value:
            # Keys starting with "x-" hold YAML anchors for reuse, as in Compose files.
            if keys is not None and key not in keys and not key.startswith("x-"):
                self.report(path + (key,), "UNKNOWN_KEY", f"unknown key '{key}'", _suggest(key, keys))
        return value

    def text(self, mapping: dict[str, Any], key: str, path: PathKey, required: bool = False,
             default: str | None = None, choices: tuple[str, ...] = ()) -> str | None:
        if key not in mapping or mapping[key] is None:
            if required:
                self.report(path, "MISSING_KEY", f"'{key}' is required", f"add '{key}:' under '{format_path(path)}'")
            return default
        value = mapping[key]
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            self.report(path + (key,), "WRONG_TYPE", f"'{key}' must be text, got {_kind(value)}")
            return default
        value = str(value)
        if choices and value not in choices:
            self.report(path + (key,), "INVALID_CHOICE", f"'{key}' must be one of: {', '.join(choices)}",
                        _suggest(value, choices))
            return default
        return value

    def flag(self, mapping: dict[str, Any], key: str, path: PathKey, default: bool) -> bool:
        value = mapping.get(key, default)
        if not isinstance(value, bool):
            self.report(path + (key,), "WRONG_TYPE", f"'{key}' must be true or false, got {_kind(value)}")
            return default
        return value

    # --- sections -------------------------------------------------------------------------

    def build(self) -> Config | None:
        top = self.mapping(self.doc.data, (), TOP_KEYS)
        if not isinstance(self.doc.data, dict):
            return None
        version = top.get("version", CONFIG_VERSION)
        if version != CONFIG_VERSION:
            self.report(("version",), "UNSUPPORTED_VERSION", f"config version must be {CONFIG_VERSION}",
                        f"set version: {CONFIG_VERSION}")
        name = self.text(top, "name", (), required=True, default="")
        key = self.key_source(top.get("key"), ("key",))
        source = self.source(top.get("source"), ("source",), None, None)
        target = self.target(top.get("target"), ("target",), None, None)
        domains = self.domains(top.get("domains"), ("domains",))
        tables = self.tables(top.get("tables"), ("tables",), source, target, domains)
        if self.problems or key is None:
            return None
        return Config(
            name=name or "",
            file=self.doc.file,
            sha256=self.doc.sha256,
            key=key,
            domains=domains,
            tables=tables,
            draft=self.flag(top, "draft", (), False),
            description=str(top.get("description") or ""),
        )

    def key_source(self, value: Any, path: PathKey) -> KeySource | None:
        if value is None:
            self.report(path, "MISSING_KEY", "'key' is required: it says where the master key comes from",
                        "add 'key: {env: ANON_KEY}' or 'key: {file: /run/secrets/anon.key}'")
            return None
        # YAML reads an inline hex key of decimal digits as a number, and !!binary as bytes.
        if isinstance(value, (str, bytes, int, float)) and not isinstance(value, bool):
            self.report(path, "KEY_INLINE", "'key' must name where the key is, never hold the key itself",
                        "write 'key: {env: VARIABLE}' or 'key: {file: PATH}' and remove the key from the file")
            return None
        mapping = self.mapping(value, path, ("env", "file"))
        env = self.text(mapping, "env", path)
        file = self.text(mapping, "file", path)
        if env and (not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", env) or _looks_like_key_text(env)):
            # A value that is no variable name, or is hex or base64 of key length, may be the key
            # itself, so it is not echoed.
            self.report(path + ("env",), "KEY_INLINE", "'key.env' must be the name of an environment variable",
                        "write the variable's name (e.g. ANON_KEY), never the key itself")
            return None
        if file and "/" not in file and "\\" not in file and _looks_like_key_text(file):
            # Hex or base64 of key length without a path separator is the key, not a file name.
            self.report(path + ("file",), "KEY_INLINE", "'key.file' must be the path of a key file, but "
                        "this value looks like the key itself",
                        "write the path of the file containing the key (e.g. /run/secrets/anon.key), "
                        "never the key itself")
            return None
        if bool(env) == bool(file):
            self.report(path, "KEY_SOURCE", "'key' needs exactly one of 'env' or 'file'",
                        "e.g. key: {env: ANON_KEY}")
            return None
        return KeySource(env=env, file=file, where=self.where(path))

    def source(self, value: Any, path: PathKey, base: SourceSpec | None, table: str | None) -> SourceSpec:
        mapping = self.mapping(value, path, SOURCE_KEYS)
        fmt = self.text(mapping, "format", path, default=base.format if base else "csv", choices=SOURCE_FORMATS)
        options = dict(base.options) if base else {}
        for key, option in self.mapping(mapping.get("options"), path + ("options",), None).items():
            options[key] = str(option).lower() if isinstance(option, bool) else str(option)
        types = dict(base.types) if base else {}
        type_places = dict(base.type_places) if base else {}
        declared = mapping.get("types") or {}
        if not isinstance(declared, dict):
            self.report(path + ("types",), "WRONG_TYPE", "'types' must map column names to Spark SQL types",
                        "e.g. types: {AGE: int, AMOUNT: 'decimal(12,2)'}")
            declared = {}
        types.update({str(k): str(v) for k, v in declared.items()})
        type_places.update({str(k): self.where(path + ("types", str(k))) for k in declared})
        spec_path = self.text(mapping, "path", path)
        spec_table = self.text(mapping, "table", path)
        database = self.text(mapping, "database", path)
        if table is not None and base is not None:
            spec_path, spec_table = self._resolve_source(fmt or "csv", base, spec_path, spec_table, database, table)
        elif database:
            spec_table = database
        where = self.where(path)
        return SourceSpec(format=fmt or "csv", path=spec_path, table=spec_table, options=options,
                          types=types, where=where, type_places=type_places)

    def _resolve_source(self, fmt: str, base: SourceSpec, path: str | None, table_name: str | None,
                        database: str | None, table: str) -> tuple[str | None, str | None]:
        if fmt == "table":
            database = database or base.table
            name = table_name or (f"{database}.{table}" if database else table)
            return None, name
        relative = path or (f"{table}.csv" if fmt == "csv" else table)
        if base.path and not _is_absolute(relative):
            return posixpath.join(base.path, relative), None
        return relative, None

    def target(self, value: Any, path: PathKey, base: TargetSpec | None, table: str | None) -> TargetSpec:
        mapping = self.mapping(value, path, TARGET_KEYS)
        mode = self.text(mapping, "mode", path, default=base.mode if base else "overwrite", choices=WRITE_MODES)
        spec_path = self.text(mapping, "path", path)
        spec_table = self.text(mapping, "table", path)
        database = self.text(mapping, "database", path)
        if table is None:
            if value is None:
                self.report(path, "MISSING_KEY", "'target' is required",
                            "add 'target: {path: lake/NAME}' or 'target: {database: NAME}'")
            elif not (spec_path or database):
                self.report(path, "TARGET_INCOMPLETE", "'target' needs 'path' or 'database'",
                            "e.g. target: {path: lake/synthea, mode: overwrite}")
            return TargetSpec(path=spec_path, table=database, mode=mode or "overwrite", where=self.where(path))
        assert base is not None
        if spec_table is None and spec_path is None:
            if base.table:
                spec_table = f"{database or base.table}.{table}"
            elif base.path:
                spec_path = posixpath.join(base.path, table)
        elif spec_path and base.path and not _is_absolute(spec_path):
            spec_path = posixpath.join(base.path, spec_path)
        return TargetSpec(path=spec_path, table=spec_table, mode=mode or "overwrite", where=self.where(path))

    def domains(self, value: Any, path: PathKey) -> dict[str, Domain]:
        result: dict[str, Domain] = {}
        for name, settings in self.mapping(value, path, None).items():
            here = path + (name,)
            mapping = self.mapping(settings, here, DOMAIN_KEYS)
            kind = self.text(mapping, "type", here, default="string", choices=DOMAIN_TYPES) or "string"
            fmt = self.text(mapping, "format", here, default="hex", choices=OUTPUT_FORMATS) or "hex"
            prefix = self.text(mapping, "prefix", here, default="") or ""
            bits = mapping.get("bits")
            if bits is not None:
                bits = self._bits(bits, fmt, here + ("bits",))
            if prefix and fmt == "integer":
                self.report(here + ("prefix",), "PREFIX_ON_INTEGER", "an integer pseudonym cannot carry a prefix",
                            "remove 'prefix' or use format: hex")
            result[name] = Domain(
                name=name,
                type=kind,
                normalize=self.text(mapping, "normalize", here, default="nfc", choices=NORMAL_FORMS) or "nfc",
                trim=self.flag(mapping, "trim", here, True),
                case=self.text(mapping, "case", here, default="preserve", choices=CASE_MODES) or "preserve",
                format=fmt,
                prefix=prefix,
                bits=bits,
                key=self.flag(mapping, "key", here, True),
                where=self.where(here),
            )
        return result

    def _bits(self, bits: Any, fmt: str, path: PathKey) -> int | None:
        limits = {"hex": (32, 256, 4), "base32": (40, 240, 5), "integer": (8, 63, 1)}
        low, high, step = limits[fmt]
        if isinstance(bits, bool) or not isinstance(bits, int) or not low <= bits <= high or bits % step:
            self.report(path, "INVALID_BITS",
                        f"'bits' for format {fmt} must be a multiple of {step} from {low} to {high}",
                        "at least 64 bits keep collisions unlikely for a billion distinct values")
            return None
        return bits

    def tables(self, value: Any, path: PathKey, source: SourceSpec, target: TargetSpec,
               domains: dict[str, Domain]) -> dict[str, TableConfig]:
        from engine.techniques import TECHNIQUES

        result: dict[str, TableConfig] = {}
        if not value:
            self.report(path, "MISSING_KEY", "'tables' is required and must list at least one table",
                        "add 'tables:' with one entry per source table")
            return result
        for name, settings in self.mapping(value, path, None).items():
            here = path + (name,)
            mapping = self.mapping(settings, here, TABLE_KEYS)
            table_source = self.source(mapping.get("source"), here + ("source",), source, name)
            table_target = self.target(mapping.get("target"), here + ("target",), target, name)
            columns = mapping.get("columns")
            if not isinstance(columns, dict) or not columns:
                self.report(here, "MISSING_KEY", f"table '{name}' needs 'columns:' with a rule for every column",
                            "list each source column with a rule such as keep, drop or pseudonymize")
                columns = {}
            rules = {}
            for column, rule_value in columns.items():
                rule = self.rule(str(column), rule_value, here + ("columns", str(column)), domains, TECHNIQUES)
                if rule is not None:
                    rules[str(column)] = rule
            quasi = mapping.get("quasi_identifiers") or []
            if not isinstance(quasi, list) or not all(isinstance(q, str) for q in quasi):
                self.report(here + ("quasi_identifiers",), "WRONG_TYPE", "'quasi_identifiers' must be a list of column names")
                quasi = []
            result[name] = TableConfig(name=name, source=table_source, target=table_target, rules=rules,
                                       quasi_identifiers=tuple(quasi), where=self.where(here))
        return result

    def rule(self, column: str, value: Any, path: PathKey, domains: dict[str, Domain],
             techniques: dict[str, Any]) -> Rule | None:
        names = tuple(techniques)
        if value is None and path in self.doc.null_words:
            value = "null"
        if isinstance(value, str):
            technique, params = value, {}
        elif isinstance(value, dict) and len(value) == 1:
            technique, params = next(iter(value.items()))
            params = {} if params is None else params
            if not isinstance(params, dict):
                self.report(path + (technique,), "WRONG_TYPE",
                            f"the parameters of '{technique}' must be a mapping, got {_kind(params)}",
                            f"e.g. {{{technique}: {{...}}}}")
                return None
        else:
            self.report(path, "RULE_SHAPE", "a rule is a technique name or a mapping with one technique",
                        "e.g. keep, or {pseudonymize: {domain: patient}}")
            return None
        if technique not in techniques:
            self.report(path, "UNKNOWN_TECHNIQUE", f"unknown technique '{technique}'", _suggest(technique, names))
            return None
        impl = techniques[technique]
        param_path = path + (technique,) if params else path
        for finding in impl.check_params(params):
            at = param_path + (finding.param,) if finding.param else param_path
            self.report(at, finding.code, finding.message, finding.fix)
        domain = params.get("domain")
        if isinstance(domain, str) and domain not in domains:
            self.report(param_path + ("domain",), "UNKNOWN_DOMAIN", f"domain '{domain}' is not declared",
                        _suggest(domain, tuple(domains)) + " (or declare it under 'domains:')")
        return Rule(column=column, technique=technique, params=dict(params), where=self.where(path))


def _looks_like_key_text(text: str) -> bool:
    # engine.keys imports engine.config, so importing it at module level would be circular.
    from engine.keys import looks_like_key_text

    return looks_like_key_text(text)


def _is_absolute(path: str) -> bool:
    return path.startswith("/") or "://" in path


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", str: "text", bool: "true/false"}.get(type(value), type(value).__name__)


def build_config(document: Document) -> Config:
    """Build the typed Config of ``document``, or raise ConfigError with every problem found."""
    builder = _Builder(document)
    config = builder.build()
    if builder.problems or config is None:
        raise ConfigError(builder.problems)
    return config


def load_config(path: str) -> Config:
    """Load and check the rule file at ``path`` (file-level checks only; no Spark)."""
    return build_config(load_file(path))


def config_from_text(text: str, file: str = "<string>") -> Config:
    return build_config(load_text(text, file))
