"""Rule proposals for the drafter: one rule per column, from its name, values and references.

``propose`` tries the cases below in order, and the first that matches wins: keys and
references, secrets, empty columns, personal names and document numbers, dates, contact
details, places, other identifiers, amounts, categories, and finally free text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from engine.design.profile import ColumnProfile
from engine.design.relations import Relation, is_reference_name, names_table, singular
from engine.pseudonym import INTEGER_BITS
from engine.techniques.temporal import DEFAULT_DATE_FORMAT

HIGH, MEDIUM, LOW = "high", "medium", "low"
# Largest shift proposed for dates that move with an entity, in days either way.
DEFAULT_MAX_DAYS = 180

# Words looked for in column names, compared lower-cased and without separators. A word in a
# tuple may appear anywhere in the name (HEALTHCARE_EXPENSES contains "expense"). A word in a
# set must be the whole name, except in _QUASI, where it must be one part of the name between
# separators, so that ETHNICITY does not count as a CITY.
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


class Domains:
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
class TableFacts:
    """Facts about one table that the drafter uses while proposing its rules."""

    name: str
    profiles: dict[str, ColumnProfile]
    key: str | None
    references: dict[str, Relation]
    person: bool
    # (column, domain) of the entity whose dates move together, if the table has one.
    date_owner: tuple[str, str] | None = None


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


def key_domain(domains: Domains, table: str, profile: ColumnProfile) -> str:
    """Declare the domain of ``table``'s key, named after the table, and return its name."""
    name = singular(table)
    if profile.is_integer:
        return domains.add(name, _integer_domain(profile))
    return domains.add(name, {"prefix": name[:3].upper() + "-"})


def table_facts(
    table: str,
    profiles: dict[str, ColumnProfile],
    keys: dict[str, str],
    relations: Sequence[Relation],
    key_domains: dict[str, str],
) -> TableFacts:
    """Gather what the proposals need to know about ``table``: its key, references, and person data."""
    references = {r.column: r for r in relations if r.child == table and r.parent in key_domains}
    person = any(
        _is_personal_name(column) or _contains(column, ("birth",)) or _contains(column, _NATIONAL_ID)
        for column in profiles
    )
    return TableFacts(table, profiles, keys.get(table), references, person)


def _is_personal_name(column: str) -> bool:
    return _plain(column) in _FIRST_NAME | _LAST_NAME


def date_owner(
    table: TableFacts, facts: dict[str, TableFacts], key_domains: dict[str, str]
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


def propose(
    table: TableFacts, profile: ColumnProfile, domains: Domains, key_domains: dict[str, str]
) -> Proposal:
    """Propose the rule of one column; the first matching case below wins."""
    column = profile.name
    for case in (
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
        found = case(table, profile, domains, key_domains)
        if found is not None:
            technique, params, reason, confidence, quasi = found
            return Proposal(table.name, column, technique, params, reason, confidence, quasi)
    raise AssertionError("_by_text proposes a rule for every column")


# The result of a case: (technique, params, reason, confidence, quasi-identifier), or None when
# the case does not apply to the column.
_Found = tuple[str, dict[str, Any], str, str, bool] | None


def _by_key(
    table: TableFacts, profile: ColumnProfile, domains: Domains, key_domains: dict[str, str]
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
    table: TableFacts, profile: ColumnProfile, domains: Domains, key_domains: dict[str, str]
) -> _Found:
    if _contains(profile.name, _SECRET):
        return "null", {}, "a secret (password, token): never copied", HIGH, False
    if _contains(profile.name, _PICTURE):
        return "null", {}, "a picture of a person", MEDIUM, False
    return None


def _by_empty(
    table: TableFacts, profile: ColumnProfile, domains: Domains, key_domains: dict[str, str]
) -> _Found:
    if profile.non_null:
        return None
    for parent, domain in key_domains.items():
        if parent != table.name and names_table(profile.name, parent) and is_reference_name(profile.name):
            reason = f"no values in the sample, but its name refers to table '{parent}'"
            return "pseudonymize", {"domain": domain}, reason, LOW, False
    return "null", {}, "no values in the sample: check the full data before keeping it", LOW, False


def _by_personal_name(
    table: TableFacts, profile: ColumnProfile, domains: Domains, key_domains: dict[str, str]
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
    table: TableFacts, profile: ColumnProfile, domains: Domains, key_domains: dict[str, str]
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
    table: TableFacts, profile: ColumnProfile, domains: Domains, key_domains: dict[str, str]
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
    table: TableFacts, profile: ColumnProfile, domains: Domains, key_domains: dict[str, str]
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
        reason = "a coordinate: rounded to 1 decimal (about 11 km of latitude)"
        return "generalize", {"round": 1}, reason, HIGH, False
    if set(_tokens(profile.name)) & _QUASI:
        reason = "a quasi-identifier: kept, check k-anonymity"
        return "keep", {}, reason, MEDIUM, table.person
    return None


def _by_identifier(
    table: TableFacts, profile: ColumnProfile, domains: Domains, key_domains: dict[str, str]
) -> _Found:
    looks_like_id = is_reference_name(profile.name) or _contains(profile.name, _IDENTIFIER)
    if not (looks_like_id or profile.has_shape("uuid")):
        return None
    settings = _integer_domain(profile) if profile.is_integer else {}
    domain = domains.add(_domain_name(profile.name), settings)
    reason = "an identifier found in no table's key: pseudonymized in a domain of its own"
    return "pseudonymize", {"domain": domain}, reason, MEDIUM, False


def _bucket_width(mean: float | None) -> int:
    """Return the power of ten between a hundredth and a tenth of ``mean``, at least 1."""
    if not mean or mean <= 10:
        return 1
    width = 1
    while width * 100 <= mean:
        width *= 10
    return width


def _by_amount(
    table: TableFacts, profile: ColumnProfile, domains: Domains, key_domains: dict[str, str]
) -> _Found:
    if not (_contains(profile.name, _AMOUNT) and profile.is_numeric):
        return None
    if table.person:
        width = _bucket_width(profile.mean)
        reason = f"an amount that describes a person: grouped in buckets of {width}"
        return "generalize", {"bucket": width}, reason, MEDIUM, False
    return "keep", {}, "an amount of a transaction, not identifying on its own", MEDIUM, False


def _by_category(
    table: TableFacts, profile: ColumnProfile, domains: Domains, key_domains: dict[str, str]
) -> _Found:
    if _contains(profile.name, _CODE) and profile.distinct_ratio <= 0.5:
        return "keep", {}, "a code or category with repeated values", MEDIUM, False
    # A small sample has few values of everything, so a low count alone is not enough.
    if profile.distinct_ratio <= 0.1 or (profile.distinct <= 20 and profile.distinct_ratio <= 0.5):
        reason = f"few distinct values ({profile.distinct} in {profile.non_null}): looks like a category"
        return "keep", {}, reason, LOW, False
    return None


def _by_text(
    table: TableFacts, profile: ColumnProfile, domains: Domains, key_domains: dict[str, str]
) -> _Found:
    if profile.is_numeric:
        return "keep", {}, "a number with no identifying name", LOW, False
    if profile.is_text and (profile.average_length or 0) >= 20 and profile.share("words") >= 0.5:
        return "null", {}, "free text with many distinct values: it may name people", MEDIUM, False
    if _contains(profile.name, _CODE):
        return "keep", {}, "named like a code or category", LOW, False
    return "null", {}, "unrecognised text with many distinct values: review it", LOW, False
