"""Draft a rule file from column names and sampled values, for a human to review.

Each column gets one proposed rule with a reason and a confidence. Ids become pseudonyms in
one domain per referenced table, so that foreign keys found in the data keep joining. The YAML
starts with ``draft: true``, which makes the production job reject it until someone has read
every rule and deleted that line.
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
from engine.design.profile import ColumnProfile, profile_tables
from engine.design.relations import (
    Relation,
    check_relations,
    find_relations,
    is_reference_name,
    key_columns,
    names_table,
    singular,
)
from engine.design.sampler import Sample
from engine.pseudonym import INTEGER_BITS
from engine.techniques.temporal import DEFAULT_DATE_FORMAT

HIGH, MEDIUM, LOW = "high", "medium", "low"
# Largest shift proposed for dates that move with an entity, in days either way.
DEFAULT_MAX_DAYS = 180
_YAML_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"}

# Words looked for in column names: tokens are the parts between non-alphanumeric characters.
_SECRET = ("password", "passwd", "secret", "token", "apikey")
_PICTURE = ("picture", "photo", "avatar", "signature")
_NATIONAL_ID = ("ssn", "passport", "driver", "licence", "license", "nationalid", "taxid", "socialsecurity")
_USERNAME = ("username", "login")
_FIRST_NAME = {"first", "firstname", "givenname", "given", "forename", "forenames"}
_LAST_NAME = {"last", "lastname", "surname", "familyname", "family", "maiden", "maidenname"}
_PHONE = ("phone", "mobile", "fax", "telephone")
_POSTCODE = ("zip", "postcode", "postal")
_GEO = {"lat", "lon", "lng", "latitude", "longitude"}
_IDENTIFIER = ("uid", "udi", "serial")
_AMOUNT = (
    "amount",
    "cost",
    "price",
    "revenue",
    "expense",
    "coverage",
    "salary",
    "income",
    "balance",
    "total",
    "outstanding",
    "fee",
    "charge",
)
_QUASI = {"gender", "sex", "race", "ethnicity", "marital", "age", "county", "city", "district"}
_CODE = (
    "code",
    "type",
    "class",
    "status",
    "category",
    "system",
    "unit",
    "modality",
    "severity",
    "reaction",
    "ownership",
    "special",
    "state",
    "country",
    "prefix",
    "suffix",
    "title",
    "language",
    "active",
    "description",
    "reason",
)


@dataclass(frozen=True)
class Proposal:
    """One proposed rule, with why it was chosen and how sure the drafter is."""

    table: str
    column: str
    technique: str
    params: dict[str, Any]
    reason: str
    confidence: str
    quasi_identifier: bool = False


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
        """Write the draft as a rule file with a comment on every proposed rule."""
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


def _tokens(name: str) -> list[str]:
    return [token for token in re.split(r"[^a-z0-9]+", name.lower()) if token]


def _plain(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _domain_name(column: str) -> str:
    """Return a domain name made from a column name: ``SERIES_UID`` -> ``series_uid``."""
    return re.sub(r"[^a-z0-9]+", "_", column.lower()).strip("_") or "column"


def _contains(name: str, words: Sequence[str]) -> bool:
    plain = _plain(name)
    return any(word in plain for word in words)


class _Domains:
    """Domains declared by the draft, in the order first used."""

    def __init__(self) -> None:
        self.settings: dict[str, dict[str, Any]] = {}

    def add(self, name: str, settings: dict[str, Any]) -> str:
        """Declare ``name`` with ``settings``; a name taken with other settings gets a suffix."""
        candidate, number = name, 2
        while candidate in self.settings and self.settings[candidate] != settings:
            candidate, number = f"{name}_{number}", number + 1
        self.settings[candidate] = settings
        return candidate


@dataclass
class _TableFacts:
    """Facts about one table that the drafter uses while proposing its rules."""

    name: str
    profiles: dict[str, ColumnProfile]
    key: str | None
    references: dict[str, Relation]
    person: bool
    # (column, domain) of the entity whose dates move together, if the table has one.
    date_owner: tuple[str, str] | None = None


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
    domains = _Domains()
    key_domains = {
        table: _key_domain(domains, table, profiles[table][column]) for table, column in keys.items()
    }
    facts = {table: _facts(table, profiles[table], keys, relations, key_domains) for table in tables}
    for table_facts in facts.values():
        table_facts.date_owner = _date_owner(table_facts, facts, key_domains)
    proposals = []
    for table, table_facts in facts.items():
        for column in tables[table].columns:
            proposals.append(_propose(table_facts, table_facts.profiles[column], domains, key_domains))
    source = {"format": source_format, "path": source_path}
    target = {"path": target_path or f"lake/{name}", "mode": "overwrite"}
    return Draft(name, source, target, key_env, domains.settings, proposals, list(relations))


# Integer pseudonyms of this many bits: for a million ids the chance of any collision is
# about 2 in a thousand, and the collision check of each run catches it.
INTEGER_ID_BITS = 48


def _integer_domain(profile: ColumnProfile) -> dict[str, Any]:
    """Return the settings of an integer domain whose pseudonyms fit the column's type."""
    bits = INTEGER_ID_BITS
    for dtype, widest in INTEGER_BITS.items():
        if isinstance(profile.dtype, dtype):
            bits = min(bits, widest)
    return {"type": "integer", "format": "integer", "bits": bits}


def _key_domain(domains: _Domains, table: str, profile: ColumnProfile) -> str:
    name = singular(table)
    if profile.is_integer:
        return domains.add(name, _integer_domain(profile))
    return domains.add(name, {"prefix": name[:3].upper() + "-"})


def _facts(
    table: str,
    profiles: dict[str, ColumnProfile],
    keys: dict[str, str],
    relations: Sequence[Relation],
    key_domains: dict[str, str],
) -> _TableFacts:
    references = {r.column: r for r in relations if r.child == table and r.parent in key_domains}
    person = any(
        _is_personal_name(column) or _contains(column, ("birth",)) or _contains(column, _NATIONAL_ID)
        for column in profiles
    )
    return _TableFacts(table, profiles, keys.get(table), references, person)


def _is_personal_name(column: str) -> bool:
    return _plain(column) in _FIRST_NAME | _LAST_NAME


def _date_owner(
    table: _TableFacts, facts: dict[str, _TableFacts], key_domains: dict[str, str]
) -> tuple[str, str] | None:
    """Return the column and domain by which this table's dates should shift, if any.

    A person table shifts by its own key. Any other table shifts by its first reference to a
    person table, so that one person's dates move together in every table.
    """
    if table.person and table.key is not None:
        return table.key, key_domains[table.name]
    for column in table.profiles:
        relation = table.references.get(column)
        if relation is not None and facts[relation.parent].person:
            return column, key_domains[relation.parent]
    return None


def _propose(
    table: _TableFacts, profile: ColumnProfile, domains: _Domains, key_domains: dict[str, str]
) -> Proposal:
    """Propose the rule of one column; the first matching case below wins."""
    column = profile.name
    for propose in (
        _by_key,
        _by_secret_name,
        _by_empty,
        _by_personal_name,
        _by_date,
        _by_contact,
        _by_place,
        _by_identifier,
        _by_amount,
        _by_category,
        _by_text,
    ):
        found = propose(table, profile, domains, key_domains)
        if found is not None:
            technique, params, reason, confidence, quasi = found
            return Proposal(table.name, column, technique, params, reason, confidence, quasi)
    raise AssertionError("_by_text proposes a rule for every column")


_Found = tuple[str, dict[str, Any], str, str, bool] | None


def _by_key(
    table: _TableFacts, profile: ColumnProfile, domains: _Domains, key_domains: dict[str, str]
) -> _Found:
    column = profile.name
    if column == table.key:
        domain = key_domains[table.name]
        return "pseudonymize", {"domain": domain}, f"key of '{table.name}': unique values", HIGH, False
    relation = table.references.get(column)
    if relation is None:
        return None
    domain = key_domains[relation.parent]
    share = relation.share
    found_in = "values" if share is None else f"{share:.0%} of its distinct values"
    reason = f"references {relation.parent}.{relation.key}: {found_in} are ids of that table"
    confidence = HIGH if relation.named and (share is None or share >= 1.0) else MEDIUM
    return "pseudonymize", {"domain": domain}, reason, confidence, False


def _by_secret_name(
    table: _TableFacts, profile: ColumnProfile, domains: _Domains, key_domains: dict[str, str]
) -> _Found:
    if _contains(profile.name, _SECRET):
        return "null", {}, "a secret (password, token): never copied", HIGH, False
    if _contains(profile.name, _PICTURE):
        return "null", {}, "a picture of a person", MEDIUM, False
    return None


def _by_empty(
    table: _TableFacts, profile: ColumnProfile, domains: _Domains, key_domains: dict[str, str]
) -> _Found:
    if profile.non_null:
        return None
    for parent, domain in key_domains.items():
        if parent != table.name and names_table(profile.name, parent) and is_reference_name(profile.name):
            reason = f"no values in the sample, but its name refers to table '{parent}'"
            return "pseudonymize", {"domain": domain}, reason, LOW, False
    return "null", {}, "no values in the sample: check the full data before keeping it", LOW, False


def _by_personal_name(
    table: _TableFacts, profile: ColumnProfile, domains: _Domains, key_domains: dict[str, str]
) -> _Found:
    plain = _plain(profile.name)
    name_settings = {"case": "fold", "key": False}
    if plain in _FIRST_NAME:
        return (
            "pseudonymize",
            {"domain": domains.add("first_name", name_settings)},
            "a first name",
            HIGH,
            False,
        )
    if plain in _LAST_NAME:
        return (
            "pseudonymize",
            {"domain": domains.add("last_name", name_settings)},
            "a family name",
            HIGH,
            False,
        )
    if _contains(profile.name, _USERNAME):
        return (
            "pseudonymize",
            {"domain": domains.add("username", {"case": "fold"})},
            "a user name",
            HIGH,
            False,
        )
    if _contains(profile.name, _NATIONAL_ID) or profile.has_shape("ssn"):
        domain = domains.add(_domain_name(profile.name), {})
        return "pseudonymize", {"domain": domain}, "a national or document number", HIGH, False
    if plain.endswith("name") and profile.is_text and not table.key == profile.name:
        reason = "a name; keep it instead if it names an organisation, not a person"
        return "pseudonymize", {"domain": domains.add("full_name", name_settings)}, reason, MEDIUM, False
    return None


def _by_contact(
    table: _TableFacts, profile: ColumnProfile, domains: _Domains, key_domains: dict[str, str]
) -> _Found:
    if _contains(profile.name, ("email", "mail")) or profile.has_shape("email"):
        domain = domains.add("email", {"case": "fold"})
        confidence = HIGH if profile.has_shape("email") or not profile.non_null else MEDIUM
        return "pseudonymize", {"domain": domain}, "an e-mail address", confidence, False
    if _contains(profile.name, _PHONE) or "tel" in _tokens(profile.name) or profile.has_shape("phone"):
        domain = domains.add("phone", {"key": False})
        return "pseudonymize", {"domain": domain}, "a phone number", HIGH, False
    if _contains(profile.name, ("address", "street")) and not is_reference_name(profile.name):
        domain = domains.add("street_address", {"case": "fold", "key": False})
        return "pseudonymize", {"domain": domain}, "a street address", HIGH, False
    return None


def _date_params(profile: ColumnProfile) -> dict[str, Any]:
    if profile.is_text and profile.date_format and profile.date_format != DEFAULT_DATE_FORMAT:
        return {"format": profile.date_format}
    return {}


def _by_date(
    table: _TableFacts, profile: ColumnProfile, domains: _Domains, key_domains: dict[str, str]
) -> _Found:
    if not profile.is_temporal:
        return None
    if _contains(profile.name, ("birth", "death")) or _plain(profile.name) in ("dob", "dod"):
        params = {"date": "year", **_date_params(profile)}
        return "generalize", params, "a birth or death date: only the year is kept", HIGH, True
    if table.date_owner is not None:
        by, domain = table.date_owner
        params = {"domain": domain, "by": by, "max_days": DEFAULT_MAX_DAYS, **_date_params(profile)}
        reason = f"an event date: shifted by a per-{domain} offset, so intervals between events stay true"
        return "date_shift", params, reason, MEDIUM, False
    reason = "a date in a table not linked to a person: truncated to the month"
    return "generalize", {"date": "month", **_date_params(profile)}, reason, MEDIUM, False


def _by_place(
    table: _TableFacts, profile: ColumnProfile, domains: _Domains, key_domains: dict[str, str]
) -> _Found:
    plain = _plain(profile.name)
    if _contains(profile.name, _POSTCODE) and profile.is_text:
        return (
            "generalize",
            {"prefix": 3},
            "a postcode: only the first 3 characters are kept",
            HIGH,
            table.person,
        )
    if plain in _GEO and profile.is_numeric:
        return "generalize", {"round": 1}, "a coordinate: rounded to 1 decimal (about 10 km)", HIGH, False
    if set(_tokens(profile.name)) & _QUASI:
        reason = "a quasi-identifier: kept, check k-anonymity"
        return "keep", {}, reason, MEDIUM, table.person
    return None


def _by_identifier(
    table: _TableFacts, profile: ColumnProfile, domains: _Domains, key_domains: dict[str, str]
) -> _Found:
    looks_like_id = is_reference_name(profile.name) or _contains(profile.name, _IDENTIFIER)
    if not (looks_like_id or profile.has_shape("uuid")):
        return None
    settings = _integer_domain(profile) if profile.is_integer else {}
    domain = domains.add(_domain_name(profile.name), settings)
    reason = "an identifier found in no table's key: pseudonymized in a domain of its own"
    return "pseudonymize", {"domain": domain}, reason, MEDIUM, False


def _bucket_width(mean: float | None) -> int:
    """Return a power of ten about a tenth of ``mean``, at least 1."""
    if not mean or mean <= 10:
        return 1
    width = 1
    while width * 100 <= mean:
        width *= 10
    return width


def _by_amount(
    table: _TableFacts, profile: ColumnProfile, domains: _Domains, key_domains: dict[str, str]
) -> _Found:
    if not (_contains(profile.name, _AMOUNT) and profile.is_numeric):
        return None
    if table.person:
        width = _bucket_width(profile.mean)
        reason = f"an amount that describes a person: grouped in buckets of {width}"
        return "generalize", {"bucket": width}, reason, MEDIUM, False
    return "keep", {}, "an amount of a transaction, not identifying on its own", MEDIUM, False


def _by_category(
    table: _TableFacts, profile: ColumnProfile, domains: _Domains, key_domains: dict[str, str]
) -> _Found:
    if _contains(profile.name, _CODE) and profile.distinct_ratio <= 0.5:
        return "keep", {}, "a code or category with repeated values", MEDIUM, False
    # A small sample has few values of everything, so a low count alone is not enough.
    if profile.distinct_ratio <= 0.1 or (profile.distinct <= 20 and profile.distinct_ratio <= 0.5):
        reason = f"few distinct values ({profile.distinct} in {profile.non_null}): looks like a category"
        return "keep", {}, reason, LOW, False
    return None


def _by_text(
    table: _TableFacts, profile: ColumnProfile, domains: _Domains, key_domains: dict[str, str]
) -> _Found:
    if profile.is_numeric:
        return "keep", {}, "a number with no identifying name", LOW, False
    if profile.is_text and (profile.average_length or 0) >= 20 and profile.share("words") >= 0.5:
        return "null", {}, "free text with many distinct values: it may name people", MEDIUM, False
    if _contains(profile.name, _CODE):
        return "keep", {}, "named like a code or category", LOW, False
    return "null", {}, "unrecognised text with many distinct values: review it", LOW, False
