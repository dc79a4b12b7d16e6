"""Tests for the notebook design tools in engine.design, on small hand-made tables."""

from __future__ import annotations

from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from engine.config import config_from_text, load_config
from engine.design import (
    Relation,
    Sample,
    check,
    draft_config,
    find_relations,
    histograms,
    preview,
    relations_from_config,
    rule_diff,
    sample,
    save_config,
)
from engine.design.report import KAnonymity, Leak
from engine.errors import ConfigError

HEADER = """
version: 1
name: {name}
key: {{env: ANON_TEST_KEY}}
source: {{format: csv, path: unused}}
target: {{path: unused}}
"""


def config_text(name: str, body: str) -> str:
    return HEADER.format(name=name) + body


# --- sample ---------------------------------------------------------------------------------------

SHOP_RELATIONS = [
    Relation.parse("orders.customer_id -> customers.customer_id"),
    Relation.parse("orders.staff_id -> staff.staff_id"),
    Relation.parse("items.order_id -> orders.order_id"),
    Relation.parse("items.product_id -> products.product_id"),
    Relation.parse("staff.store_id -> stores.store_id"),
    Relation.parse("stores.manager_id -> staff.staff_id"),
]


@pytest.fixture(scope="module")
def shop(spark: SparkSession) -> dict[str, DataFrame]:
    """Customers, their orders and items, products, and a store <-> staff cycle of foreign keys."""
    customers = [(f"c{i}", f"name {i}") for i in range(1, 31)]
    orders = [(f"o{i}", f"c{i % 30 + 1}", "s0") for i in range(90)]
    items = [(f"o{i}", f"p{(i * 7) % 20}", i % 4 + 1) for i in range(90)] + [
        (f"o{i}", "p19", 1) for i in range(0, 90, 3)
    ]
    products = [(f"p{i}", f"product {i}") for i in range(20)]
    # Orders name only s0. s0 works in t1, managed by s1, who works in t2, managed by s2, who
    # works in t0, managed by s0: the sample must follow that chain round by round.
    staff = [("s0", "t1"), ("s1", "t2"), ("s2", "t0")]
    stores = [("t0", "s0"), ("t1", "s1"), ("t2", "s2")]
    return {
        "customers": spark.createDataFrame(customers, "customer_id string, name string"),
        "orders": spark.createDataFrame(orders, "order_id string, customer_id string, staff_id string"),
        "items": spark.createDataFrame(items, "order_id string, product_id string, quantity int"),
        "products": spark.createDataFrame(products, "product_id string, label string"),
        "staff": spark.createDataFrame(staff, "staff_id string, store_id string"),
        "stores": spark.createDataFrame(stores, "store_id string, manager_id string"),
    }


def orphans(tables: dict[str, DataFrame], relation: Relation) -> DataFrame:
    child = tables[relation.child].where(F.col(relation.column).isNotNull())
    parent = tables[relation.parent].select(F.col(relation.key).alias(relation.column))
    return child.join(parent, relation.column, "left_anti")


@pytest.fixture(scope="module")
def shop_sample(shop: dict[str, DataFrame]) -> Sample:
    return sample(shop, root="customers", size=5, seed=11, relations=SHOP_RELATIONS)


def test_sample_keeps_every_foreign_key(spark: SparkSession, shop_sample: Sample) -> None:
    assert shop_sample.counts["customers"] == 5
    for relation in SHOP_RELATIONS:
        found = orphans(shop_sample.tables, relation)
        assert_df_equality(found, spark.createDataFrame([], found.schema))


def test_sample_follows_key_cycle(shop_sample: Sample) -> None:
    assert shop_sample.counts["staff"] == 3
    assert shop_sample.counts["stores"] == 3
    # Six steps along the chain, then one round that finds nothing new.
    assert shop_sample.rounds == 7


def test_sample_takes_all_child_rows(shop: dict[str, DataFrame], shop_sample: Sample) -> None:
    chosen = shop_sample["customers"].select("customer_id")
    expected_orders = shop["orders"].join(chosen, "customer_id", "left_semi").select(*shop["orders"].columns)
    assert_df_equality(shop_sample["orders"], expected_orders, ignore_row_order=True)
    expected_items = (
        shop["items"].join(expected_orders, "order_id", "left_semi").select(*shop["items"].columns)
    )
    assert_df_equality(shop_sample["items"], expected_items, ignore_row_order=True)


def test_sample_same_for_any_partitioning(shop: dict[str, DataFrame], shop_sample: Sample) -> None:
    split = {name: frame.repartition(7) for name, frame in shop.items()}
    again = sample(split, root="customers", size=5, seed=11, relations=SHOP_RELATIONS)
    for name in shop:
        assert_df_equality(shop_sample[name], again[name], ignore_row_order=True)


def test_sample_seed_changes_entities(shop: dict[str, DataFrame], shop_sample: Sample) -> None:
    # The root alone is enough: the seed only decides which entities come first.
    other = sample({"customers": shop["customers"]}, root="customers", size=5, seed=12, key="customer_id")
    ids = {row["customer_id"] for row in shop_sample["customers"].collect()}
    other_ids = {row["customer_id"] for row in other["customers"].collect()}
    assert len(other_ids) == 5
    assert ids != other_ids


def test_sample_rejects_unknown_relation_column(shop: dict[str, DataFrame]) -> None:
    wrong = [Relation.parse("orders.buyer -> customers.customer_id")]
    with pytest.raises(ValueError, match="has no column 'buyer'"):
        sample(shop, root="customers", size=5, seed=11, relations=wrong)


# --- relations and drafts -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clinic(spark: SparkSession) -> dict[str, DataFrame]:
    """Patients keyed by UUID and visits whose 'seen_by' column references them without saying so."""
    ids = [f"00000000-0000-4000-8000-{index:012d}" for index in range(12)]
    patients = [
        (
            ids[i],
            f"First{i}",
            f"Last{i}",
            f"person{i}@example.org",
            f"1980-01-{i + 1:02d}",
            "F" if i % 2 else "M",
        )
        for i in range(12)
    ]
    visits = [(f"v{i}", ids[i % 12], f"2021-03-{i % 28 + 1:02d}", f"{i * 10.5:.2f}") for i in range(40)]
    return {
        "patients": spark.createDataFrame(
            patients, "Id string, FIRST string, LAST string, EMAIL string, BIRTHDATE string, GENDER string"
        ),
        "visits": spark.createDataFrame(
            visits, "visit_id string, seen_by string, visit_date string, cost string"
        ),
    }


def test_find_relations_by_contained_values(clinic: dict[str, DataFrame]) -> None:
    found = find_relations(clinic)
    assert found == [Relation("visits", "seen_by", "patients", "Id")]
    assert found[0].share == 1.0


def test_draft_shares_domain_with_referenced_key(clinic: dict[str, DataFrame], tmp_path: Path) -> None:
    draft = draft_config(clinic, name="clinic", source_path="data/clinic")
    rules = {(p.table, p.column): p for p in draft.proposals}
    key_rule = rules[("patients", "Id")]
    reference_rule = rules[("visits", "seen_by")]
    assert key_rule.technique == "pseudonymize"
    assert reference_rule.technique == "pseudonymize"
    assert reference_rule.params["domain"] == key_rule.params["domain"]
    assert "patients.Id" in reference_rule.reason


def test_draft_proposes_rules_by_meaning(clinic: dict[str, DataFrame]) -> None:
    draft = draft_config(clinic, name="clinic", source_path="data/clinic")
    techniques = {(p.table, p.column): p.technique for p in draft.proposals}
    assert techniques[("patients", "FIRST")] == "pseudonymize"
    assert techniques[("patients", "EMAIL")] == "pseudonymize"
    assert techniques[("patients", "BIRTHDATE")] == "generalize"
    assert techniques[("visits", "visit_date")] == "date_shift"
    assert draft.quasi_identifiers("patients") == ["BIRTHDATE", "GENDER"]


def test_draft_loads_as_draft(clinic: dict[str, DataFrame], tmp_path: Path) -> None:
    draft = draft_config(clinic, name="clinic", source_path="data/clinic")
    path = draft.save(tmp_path / "clinic.yaml")
    loaded = load_config(str(path))
    assert loaded.draft
    assert set(loaded.tables) == {"patients", "visits"}
    assert all("# " in line for line in path.read_text().splitlines() if line.startswith("      "))


def test_relations_from_config_follow_domains() -> None:
    config = config_from_text(
        config_text(
            "shop",
            """
domains: {customer: {}, other: {}}
tables:
  customers:
    columns: {customer_id: {pseudonymize: {domain: customer}}, name: keep}
  orders:
    columns:
      order_id: {pseudonymize: {domain: other}}
      buyer: {pseudonymize: {domain: customer}}
""",
        )
    )
    assert relations_from_config(config) == [Relation("orders", "buyer", "customers", "customer_id")]


# --- check ----------------------------------------------------------------------------------------

PEOPLE_CONFIG = """
domains: {person: {}, ssn: {}}
tables:
  people:
    quasi_identifiers: [age, zip]
    columns:
      id: {pseudonymize: {domain: person}}
      ssn: {pseudonymize: {domain: ssn}}
      note: keep
      age: {generalize: {bucket: 10}}
      zip: {generalize: {prefix: 3}}
"""


@pytest.fixture(scope="module")
def people(spark: SparkSession) -> dict[str, DataFrame]:
    rows = [
        ("p1", "111-22-3333", "calm", 34, "75001"),
        ("p2", "222-33-4444", "calm", 36, "75002"),
        ("p3", "333-44-5555", "111-22-3333", 35, "75003"),
        ("p4", "444-55-6666", "calm", 52, "75011"),
        ("p5", "555-66-7777", "calm", 58, "75012"),
        ("p6", "666-77-8888", "calm", 71, "13001"),
    ]
    return {"people": spark.createDataFrame(rows, "id string, ssn string, note string, age int, zip string")}


def test_leak_check_finds_planted_value(people: dict[str, DataFrame], master_key) -> None:
    config = config_from_text(config_text("people", PEOPLE_CONFIG))
    report = check(config, people, master_key)
    expected = [Leak("people", "ssn", 'pseudonymize {"domain": "ssn"}', "people", "note", 1)]
    assert report.leaks == expected
    assert not report.ok


def test_leak_check_passes_clean_data(people: dict[str, DataFrame], master_key) -> None:
    config = config_from_text(config_text("people", PEOPLE_CONFIG))
    clean = {"people": people["people"].withColumn("note", F.lit("calm"))}
    report = check(config, clean, master_key)
    assert report.leaks == []
    assert report.ok


def test_k_anonymity_matches_hand_count(people: dict[str, DataFrame], master_key) -> None:
    config = config_from_text(config_text("people", PEOPLE_CONFIG))
    report = check(config, people, master_key, k=3)
    # After the rules the (age, zip) groups are (30, 750) x3, (50, 750) x2 and (70, 130) x1,
    # so 3 of 6 rows sit in groups smaller than 3. Before them every row is its own group.
    expected = KAnonymity(
        table="people",
        quasi_identifiers=["age", "zip"],
        k=3,
        rows=6,
        groups_before=6,
        smallest_group_before=1,
        share_below_k_before=1.0,
        groups_after=3,
        smallest_group_after=1,
        rows_below_k_after=3,
        share_below_k_after=0.5,
    )
    assert report.k_anonymity == [expected]


def test_check_reports_schema_gaps(people: dict[str, DataFrame], master_key) -> None:
    config = config_from_text(
        config_text("people", PEOPLE_CONFIG.replace("      note: keep\n", "      notes: keep\n"))
    )
    report = check(config, people, master_key)
    assert [p["path"] for p in report.columns_without_rules] == ["tables.people.columns.note"]
    assert [p["path"] for p in report.rules_without_columns] == ["tables.people.columns.notes"]
    assert report.leaks == []


def test_check_finds_broken_foreign_key(shop: dict[str, DataFrame], master_key) -> None:
    # The order's customer_id is pseudonymized in another domain than the customers' key.
    config = config_from_text(
        config_text(
            "shop",
            """
domains: {customer: {}, order: {}}
tables:
  customers:
    columns: {customer_id: {pseudonymize: {domain: customer}}, name: keep}
  orders:
    columns:
      order_id: {pseudonymize: {domain: order}}
      customer_id: {pseudonymize: {domain: order}}
      staff_id: keep
""",
        )
    )
    tables = {name: shop[name] for name in ("customers", "orders")}
    report = check(config, tables, master_key, relations=[SHOP_RELATIONS[0]])
    [result] = report.foreign_keys
    assert (result.orphans_before, result.orphans_after, result.status) == (0, 90, "broken")


def test_check_counts_pseudonym_collisions(spark: SparkSession, master_key) -> None:
    # 300 distinct ids cannot fit in 8-bit pseudonyms (256 values).
    frame = spark.range(300).select(F.col("id").cast("int").alias("id"))
    config = config_from_text(
        config_text(
            "ids",
            """
domains: {tiny: {type: integer, format: integer, bits: 8}}
tables:
  ids:
    columns: {id: {pseudonymize: {domain: tiny}}}
""",
        )
    )
    report = check(config, {"ids": frame}, master_key)
    [collisions] = report.collisions
    assert collisions.inputs == 300
    assert collisions.pseudonyms <= 256
    assert collisions.colliding_pseudonyms > 0


def test_check_report_contains_no_values(people: dict[str, DataFrame], master_key) -> None:
    config = config_from_text(config_text("people", PEOPLE_CONFIG))
    report = check(config, people, master_key)
    for value in ("111-22-3333", "75001", "p1"):
        assert value not in report.to_json()
        assert value not in report._repr_html_()


# --- preview and plots ----------------------------------------------------------------------------


def test_preview_returns_html(people: dict[str, DataFrame], master_key) -> None:
    config = config_from_text(config_text("people", PEOPLE_CONFIG))
    previewed = preview(config, people, master_key, "people", rows=3)
    html = previewed._repr_html_()
    assert html.startswith("<style>")
    assert "<table" in html
    assert "ssn" in html
    assert len(previewed.before) == 3
    assert set(previewed.before) <= {tuple(row) for row in people["people"].collect()}
    note = previewed.columns.index("note")
    assert all(after[note] == before[note] for before, after in zip(previewed.before, previewed.after, strict=True))
    ssn = previewed.columns.index("ssn")
    assert all(after[ssn] != before[ssn] for before, after in zip(previewed.before, previewed.after, strict=True))


def test_histograms_count_every_value(people: dict[str, DataFrame], master_key) -> None:
    config = config_from_text(config_text("people", PEOPLE_CONFIG))
    [age] = histograms(config, people, master_key, "people", bins=4)
    assert age.column == "age"
    assert sum(age.before) == 6
    assert sum(age.after) == 6
    assert len(age.edges) == 5


# --- review ---------------------------------------------------------------------------------------


def test_rule_diff_lists_changes() -> None:
    before = config_from_text(config_text("people", PEOPLE_CONFIG), "draft.yaml")
    edited = PEOPLE_CONFIG.replace("note: keep", '"note": "null"').replace("[age, zip]", "[age]")
    after = config_from_text(config_text("people", edited), "reviewed.yaml")
    diff = rule_diff(before, after)
    changed = [(c.column, c.before, c.after) for c in diff.changes if c.status == "changed"]
    assert changed == [("note", "keep", "null"), ("(quasi-identifiers)", "age, zip", "age")]
    assert diff.count("same") == 4
    assert "reviewed.yaml" in diff._repr_html_()


def test_save_config_rejects_draft(tmp_path: Path) -> None:
    text = "draft: true\n" + config_text("people", PEOPLE_CONFIG)
    target = tmp_path / "people.yaml"
    with pytest.raises(ConfigError) as raised:
        save_config(text, target)
    assert raised.value.codes == ["CONFIG_IS_DRAFT"]
    assert not target.exists()


def test_save_config_writes_reviewed(tmp_path: Path) -> None:
    text = config_text("people", PEOPLE_CONFIG)
    saved = save_config(text, tmp_path / "out" / "people.yaml")
    assert saved.name == "people"
    assert (tmp_path / "out" / "people.yaml").read_text() == text
