"""Design tools for notebooks: sample, draft rules, preview, check, plot, and save a config.

Everything here runs the production path (``engine.config`` to load and validate,
``engine.compile`` to build the columns), on sampled data, so a preview shows what a run
writes. One import is enough in a notebook::

    from engine.design import *
"""

from __future__ import annotations

from engine.design.before_after import Preview, preview
from engine.design.checks import CheckReport, check
from engine.design.draft import Draft, draft_config
from engine.design.plots import Histogram, histograms, plot_distributions
from engine.design.proposals import Proposal
from engine.design.relations import Relation, find_relations, relations_from_config
from engine.design.review import RuleDiff, rule_diff, save_config
from engine.design.sampler import Sample, sample
from engine.design.tables import key_from_text, read_config_tables, read_tables

__all__ = [
    "CheckReport",
    "Draft",
    "Histogram",
    "Preview",
    "Proposal",
    "Relation",
    "RuleDiff",
    "Sample",
    "check",
    "draft_config",
    "find_relations",
    "histograms",
    "key_from_text",
    "plot_distributions",
    "preview",
    "read_config_tables",
    "read_tables",
    "relations_from_config",
    "rule_diff",
    "sample",
    "save_config",
]
