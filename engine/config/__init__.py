"""Rule files: YAML loading with line marks, the typed model and validation. No Spark here."""

from engine.config.loader import Document, load_file, load_text
from engine.config.model import Config, Domain, KeySource, Rule, SourceSpec, TableConfig, TargetSpec, Where
from engine.config.validate import build_config, config_from_text, load_config

__all__ = [
    "Config", "Document", "Domain", "KeySource", "Rule", "SourceSpec", "TableConfig", "TargetSpec",
    "Where", "build_config", "config_from_text", "load_config", "load_file", "load_text",
]
