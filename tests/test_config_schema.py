"""The JSON Schema for editors stays in step with the engine: shipped configs pass, names match."""

from __future__ import annotations

import json

import pytest
import yaml

from engine.techniques import TECHNIQUES
from tests.conftest import REPO

SCHEMA = json.loads((REPO / "engine" / "config" / "schema.json").read_text())


@pytest.mark.parametrize("config", sorted((REPO / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_config_matches_json_schema(config):
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(yaml.safe_load(config.read_text()), SCHEMA)


def test_schema_lists_every_technique_and_parameter():
    variants = SCHEMA["$defs"]["rule"]["oneOf"]
    bare = set(variants[0]["enum"])
    with_params = {}
    for variant in variants[1:]:
        (name, spec), = variant["properties"].items()
        with_params[name] = set(spec.get("properties", {}))
    assert set(TECHNIQUES) == set(with_params)
    for name, technique in TECHNIQUES.items():
        assert {param.name for param in technique.params} == with_params[name], name
        if not technique.params:
            assert name in bare
