"""Read a YAML rule file into plain Python values plus the line of every node.

The typed model is built from this document by ``engine.config.validate``, which needs the line
marks to point each problem at its place in the file.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from engine.errors import ConfigError, Problem

PathKey = tuple[str | int, ...]
NodePair = tuple[yaml.Node, yaml.Node]
_MERGE_TAG = "tag:yaml.org,2002:merge"
# Spellings of the word null in YAML. `~` and an empty value are null too, but name no technique.
_NULL_WORDS = ("null", "Null", "NULL")


def format_path(path: PathKey) -> str:
    """Render ``("tables", "patients", "columns", "SSN")`` as ``tables.patients.columns.SSN``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


@dataclass
class Document:
    """A parsed rule file: its values, the line of each node, and its SHA-256."""

    file: str
    data: Any
    lines: dict[PathKey, int] = field(default_factory=dict)
    sha256: str = ""
    # Paths of values written as the word null, which YAML reads as None. A rule needs them,
    # because `SSN: null` names the null technique.
    null_words: set[PathKey] = field(default_factory=set)

    def line_of(self, path: PathKey) -> int | None:
        # A node without its own mark (a default) points at its nearest parent.
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get(())

    def problem(self, path: PathKey, code: str, message: str, fix: str = "") -> Problem:
        return Problem(
            code=code,
            message=message,
            fix=fix,
            file=self.file,
            line=self.line_of(path),
            path=format_path(path),
        )


def load_file(path: str | Path) -> Document:
    """Parse the rule file at ``path``; raise ConfigError if it is not readable YAML."""
    name = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        problem = Problem(
            code="CONFIG_UNREADABLE",
            message=f"cannot read the config file ({exc.strerror})",
            fix="check the path given to --config",
            file=name,
        )
        raise ConfigError([problem]) from None
    return load_text(raw.decode("utf-8", errors="strict"), name, raw)


def load_text(text: str, file: str = "<string>", raw: bytes | None = None) -> Document:
    """Parse YAML text; ``file`` is the name that messages show."""
    digest = hashlib.sha256(raw if raw is not None else text.encode("utf-8")).hexdigest()
    document = Document(file=file, data=None, sha256=digest)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = Problem(
            code="YAML_SYNTAX",
            message=f"invalid YAML: {getattr(exc, 'problem', None) or 'syntax error'}",
            fix="fix the YAML syntax at this line (indentation, quotes, colons)",
            file=file,
            line=mark.line + 1 if mark else None,
        )
        raise ConfigError([problem]) from None
    if node is None:
        problem = Problem(
            code="CONFIG_EMPTY",
            message="the config file is empty",
            fix="start from the example in the README",
            file=file,
            line=1,
        )
        raise ConfigError([problem])
    problems: list[Problem] = []
    document.data = _convert(node, (), document, problems)
    if problems:
        raise ConfigError(problems)
    return document


def _convert(node: yaml.Node, path: PathKey, document: Document, problems: list[Problem]) -> Any:
    document.lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        merged, own = _split_merge(node, path, document, problems)
        # YAML lets a later merge or the mapping's own keys override keys merged in with `<<:`.
        # Only the mapping's own keys must be unique.
        for key_node, value_node in merged:
            key = _key_text(key_node, path, document, problems)
            if key is not None:
                result[key] = _convert(value_node, path + (key,), document, problems)
                document.lines[path + (key,)] = key_node.start_mark.line + 1
        overridable = set(result)
        for key_node, value_node in own:
            key = _key_text(key_node, path, document, problems)
            if key is None:
                continue
            if key in result and key not in overridable:
                document.lines[path + (key,)] = key_node.start_mark.line + 1
                problems.append(
                    document.problem(
                        path + (key,),
                        "DUPLICATE_KEY",
                        f"key '{key}' appears twice in the same mapping",
                        "keep one of them: YAML would silently use the last",
                    )
                )
                continue
            overridable.discard(key)
            result[key] = _convert(value_node, path + (key,), document, problems)
            # Point a key at the line of its name, which is where an editor shows it.
            document.lines[path + (key,)] = key_node.start_mark.line + 1
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _convert(item, path + (index,), document, problems)
            for index, item in enumerate(node.value)
        ]
    constructor = yaml.SafeLoader("")
    value = constructor.construct_object(node, deep=True)
    if value is None and node.value in _NULL_WORDS:
        document.null_words.add(path)
    return value


def _key_text(key_node: yaml.Node, path: PathKey, document: Document,
              problems: list[Problem]) -> str | None:
    key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
    if not isinstance(key, str):
        problems.append(document.problem(path, "KEY_NOT_STRING", "mapping keys must be plain names"))
        return None
    return key


def _split_merge(node: yaml.MappingNode, path: PathKey, document: Document,
                 problems: list[Problem]) -> tuple[list[NodePair], list[NodePair]]:
    """Return the key-value pairs merged in with `<<:` (later ones win) and the mapping's own pairs."""
    own = [(key, value) for key, value in node.value if key.tag != _MERGE_TAG]
    if len(own) == len(node.value):
        return [], own
    flat = yaml.MappingNode(node.tag, list(node.value), node.start_mark, node.end_mark)
    try:
        # PyYAML's own merge: it puts the merged pairs first, followed by the own pairs.
        yaml.SafeLoader("").flatten_mapping(flat)
    except yaml.YAMLError:
        problems.append(
            document.problem(path, "WRONG_TYPE", "'<<' must merge a mapping or a list of mappings",
                             "write '<<: *anchor' where the anchor names a mapping")
        )
        return [], own
    return flat.value[: len(flat.value) - len(own)], own
