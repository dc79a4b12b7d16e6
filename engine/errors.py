"""Error classes with stable codes and the exit code each one maps to.

Messages name files, lines, tables, columns, rules and counts. They never contain a cell value or
key material, because they end up in scheduler logs that many people read.
"""

from __future__ import annotations

from typing import Any

from dataclasses import dataclass

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INVALID_CONFIG = 3
EXIT_KEY = 4
EXIT_DATA_REJECTED = 5

# How many problems a message prints before it only counts the rest.
MAX_PRINTED_PROBLEMS = 50


@dataclass(frozen=True)
class Problem:
    """One config or input problem, located as precisely as the engine can."""

    code: str
    message: str
    fix: str = ""
    file: str = ""
    line: int | None = None
    path: str = ""

    @classmethod
    def at(cls, where: Any, code: str, message: str, fix: str, path: str | None = None) -> Problem:
        """Build a problem located at ``where`` (a config Where, or None when unknown)."""
        return cls(code=code, message=message, fix=fix, file=where.file if where else "",
                   line=where.line if where else None, path=path or (where.path if where else ""))

    @property
    def location(self) -> str:
        place = self.file or "<config>"
        if self.line is not None:
            place = f"{place}:{self.line}"
        return f"{place}: {self.path}" if self.path else place

    def __str__(self) -> str:
        text = f"{self.location}: {self.message} [{self.code}]"
        return f"{text}\n    fix: {self.fix}" if self.fix else text

    def to_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "file": self.file,
            "line": self.line,
            "path": self.path,
            "message": self.message,
            "fix": self.fix,
        }


class AnonymizationError(Exception):
    """Base class of every error the engine raises on purpose."""

    exit_code = EXIT_FAILURE
    code = "ANONYMIZATION_ERROR"


class UsageError(AnonymizationError, ValueError):
    """Command-line arguments are missing or contradict each other."""

    exit_code = EXIT_USAGE
    code = "USAGE"


class ProblemsError(AnonymizationError):
    """An error that carries every problem found, so one run shows all of them."""

    title = "problems found"

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        super().__init__(self._render())

    def _render(self) -> str:
        shown = self.problems[:MAX_PRINTED_PROBLEMS]
        lines = [f"{len(self.problems)} {self.title}:"]
        lines += [f"  {problem}" for problem in shown]
        hidden = len(self.problems) - len(shown)
        if hidden:
            lines.append(f"  ... and {hidden} more")
        return "\n".join(lines)

    @property
    def codes(self) -> list[str]:
        return [problem.code for problem in self.problems]


class ConfigError(ProblemsError, ValueError):
    """The rule file is invalid, or does not fit the source schemas."""

    exit_code = EXIT_INVALID_CONFIG
    code = "INVALID_CONFIG"
    title = "config problem(s)"


class KeyMaterialError(AnonymizationError, ValueError):
    """The master key is missing, unreadable, malformed or too short."""

    exit_code = EXIT_KEY
    code = "KEY_UNUSABLE"


class DataRejectedError(ProblemsError, ValueError):
    """Source rows failed a check that runs before anything is written."""

    exit_code = EXIT_DATA_REJECTED
    code = "DATA_REJECTED"
    title = "input problem(s); nothing was written"
