"""Technique registry: the name used in rule files maps to one Technique instance."""

from __future__ import annotations

from engine.techniques.base import BuildContext, Finding, Param, Technique
from engine.techniques.generalize import Generalize
from engine.techniques.keyed import DateShift, Pseudonymize
from engine.techniques.mask import Mask
from engine.techniques.simple import Constant, Drop, Keep, Null, Sql

TECHNIQUES: dict[str, Technique] = {
    technique.name: technique
    for technique in (
        Keep(), Drop(), Null(), Constant(), Pseudonymize(), Mask(), Generalize(), DateShift(), Sql()
    )
}

__all__ = ["TECHNIQUES", "BuildContext", "Finding", "Param", "Technique"]
