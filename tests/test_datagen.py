"""Tests for the synthetic Delta table generator in bench/datagen.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from bench.datagen import (
    BOOKING_WINDOW_START,
    FIRST_BIRTH_DATE,
    LAST_BIRTH_DATE,
    REFERENCE_TIME,
    TABLE_NAMES,
    build_tables,
    generate,
    table_sizes,
)

ROWS = 2_000
SEED = 42


@pytest.fixture(scope="module", autouse=True)
def few_snapshot_partitions(spark: SparkSession) -> Iterator[None]:
    # Delta rebuilds table state with 50 partitions by default, which costs seconds per
    # query on tables of a few files. The previous value is restored for other modules.
    key = "spark.databricks.delta.snapshotPartitions"
    previous = spark.conf.get(key, None)
    spark.conf.set(key, "2")
    yield
    if previous is None:
        spark.conf.unset(key)
    else:
        spark.conf.set(key, previous)


def _read_tables(spark: SparkSession, paths: dict[str, str]) -> dict[str, DataFrame]:
    return {name: spark.read.format("delta").load(path) for name, path in paths.items()}


@pytest.fixture(scope="module")
def paths(
    spark: SparkSession, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    out_dir = tmp_path_factory.mktemp("datagen_seed42")
    return generate(spark, str(out_dir), ROWS, seed=SEED)


@pytest.fixture(scope="module")
def tables(
    spark: SparkSession, paths: dict[str, str]
) -> Iterator[dict[str, DataFrame]]:
    # Cached so that each check reads the Delta files once, not once per query.
    cached = {name: df.cache() for name, df in _read_tables(spark, paths).items()}
    yield cached
    for df in cached.values():
        df.unpersist()


def _orphan_count(child: DataFrame, parent: DataFrame, keys: list[str]) -> int:
    return child.join(parent.select(*keys).distinct(), on=keys, how="left_anti").count()


def test_generate_returns_table_paths(paths: dict[str, str]) -> None:
    assert sorted(paths) == sorted(TABLE_NAMES)
    for name, path in paths.items():
        assert Path(path).name == name
        assert (Path(path) / "_delta_log").is_dir(), f"{path} is not a Delta table"


def test_table_sizes_minimum_one() -> None:
    assert table_sizes(1) == {"customers": 1, "accounts": 1, "transactions": 1}
    assert table_sizes(ROWS) == {
        "customers": 100,
        "accounts": 250,
        "transactions": 2_000,
    }


def test_generate_rejects_zero_rows(spark: SparkSession, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="rows must be at least 1"):
        generate(spark, str(tmp_path), 0)


def test_row_counts(tables: dict[str, DataFrame]) -> None:
    expected = table_sizes(ROWS)
    for name, df in tables.items():
        assert df.count() == expected[name], f"row count of {name}"


def test_primary_keys_unique(tables: dict[str, DataFrame]) -> None:
    for name, key in [
        ("customers", "customer_id"),
        ("accounts", "account_id"),
        ("transactions", "txn_id"),
    ]:
        df = tables[name]
        assert df.select(key).distinct().count() == df.count(), f"{name}.{key}"


def test_foreign_keys_resolve(tables: dict[str, DataFrame]) -> None:
    customers = tables["customers"]
    accounts = tables["accounts"]
    transactions = tables["transactions"]

    assert _orphan_count(accounts, customers, ["customer_id"]) == 0
    assert _orphan_count(transactions, accounts, ["account_id"]) == 0
    assert _orphan_count(transactions, customers, ["customer_id"]) == 0
    # The transaction's customer must be the owner of its account.
    assert _orphan_count(transactions, accounts, ["account_id", "customer_id"]) == 0


def test_every_customer_has_account(tables: dict[str, DataFrame]) -> None:
    assert _orphan_count(tables["customers"], tables["accounts"], ["customer_id"]) == 0


def test_column_types(tables: dict[str, DataFrame]) -> None:
    expected = {
        "customers": {
            "customer_id": "bigint",
            "birth_date": "date",
            "postcode": "string",
            "created_at": "timestamp",
        },
        "accounts": {
            "account_id": "bigint",
            "customer_id": "bigint",
            "opened_on": "date",
            "balance": "decimal(18,2)",
        },
        "transactions": {
            "txn_id": "bigint",
            "account_id": "bigint",
            "customer_id": "bigint",
            "amount": "decimal(18,2)",
            "booked_at": "timestamp",
        },
    }
    for name, columns in expected.items():
        types = dict(tables[name].dtypes)
        for column, type_name in columns.items():
            assert types.get(column) == type_name, f"{name}.{column}"


def test_no_nulls(tables: dict[str, DataFrame]) -> None:
    for name, df in tables.items():
        null_counts = df.select(
            *[F.count_if(F.col(column).isNull()).alias(column) for column in df.columns]
        ).first()
        for column in df.columns:
            assert null_counts[column] == 0, f"{name}.{column} has nulls"


def test_same_seed_same_rows(
    spark: SparkSession, tables: dict[str, DataFrame], tmp_path: Path
) -> None:
    again = _read_tables(spark, generate(spark, str(tmp_path), ROWS, seed=SEED))
    for name in TABLE_NAMES:
        assert_df_equality(tables[name], again[name], ignore_row_order=True)


def test_partition_count_does_not_change_rows(spark: SparkSession) -> None:
    one = build_tables(spark, ROWS, SEED, partitions=1)
    three = build_tables(spark, ROWS, SEED, partitions=3)
    for name in TABLE_NAMES:
        assert_df_equality(one[name], three[name], ignore_row_order=True)


def test_other_seed_changes_names(spark: SparkSession) -> None:
    def names(seed: int) -> list[tuple[str, str]]:
        customers = build_tables(spark, ROWS, seed)["customers"]
        rows = customers.orderBy("customer_id").select("first_name", "last_name")
        return [(row.first_name, row.last_name) for row in rows.collect()]

    seed_42 = names(42)
    seed_7 = names(7)
    changed = sum(a != b for a, b in zip(seed_42, seed_7, strict=True))
    # With 56 first and 50 last names nearly every pair changes. Half is a loose bound.
    assert changed > len(seed_42) // 2


def test_postcodes_five_digits(tables: dict[str, DataFrame]) -> None:
    customers = tables["customers"]
    assert customers.filter(F.length("postcode") != 5).count() == 0
    assert customers.filter(~F.col("postcode").rlike("^[0-9]{5}$")).count() == 0
    # Prefixes such as "06" (Nice) and "01" (Dresden) must keep their leading zero.
    assert customers.filter(F.col("postcode").startswith("0")).count() > 0


def test_emails_are_ascii_addresses(tables: dict[str, DataFrame]) -> None:
    pattern = r"^[a-z]+\.[a-z]+[0-9]+@[a-z.]+$"
    bad = tables["customers"].filter(~F.col("email").rlike(pattern))
    assert bad.count() == 0, bad.select("email").limit(5).collect()


def test_ibans_have_valid_check_digits(tables: dict[str, DataFrame]) -> None:
    ibans = [row.iban for row in tables["accounts"].select("iban").collect()]

    def is_valid(iban: str) -> bool:
        rearranged = iban[4:] + iban[:4]
        number = "".join(str(int(char, 36)) for char in rearranged)
        return int(number) % 97 == 1

    invalid = [iban for iban in ibans if not is_valid(iban)]
    assert invalid == []
    layouts = {(iban[:2], len(iban)) for iban in ibans}
    assert layouts == {("FR", 27), ("DE", 22)}


def test_birth_dates_in_range(tables: dict[str, DataFrame]) -> None:
    customers = tables["customers"]
    too_early = customers.filter(F.col("birth_date") < F.lit(FIRST_BIRTH_DATE))
    too_late = customers.filter(F.col("birth_date") > F.lit(LAST_BIRTH_DATE))
    assert too_early.count() == 0
    assert too_late.count() == 0


def test_bookings_follow_account_opening(tables: dict[str, DataFrame]) -> None:
    # Epoch seconds, because comparing a date with a timestamp would depend on the
    # session time zone.
    booked = F.unix_timestamp("booked_at")
    opened = F.datediff("opened_on", F.lit("1970-01-01")).cast("long") * 86_400
    joined = tables["transactions"].join(
        tables["accounts"].select("account_id", "opened_on"), "account_id"
    )
    assert joined.filter(booked < opened).count() == 0
    assert joined.filter(booked < int(BOOKING_WINDOW_START.timestamp())).count() == 0
    assert joined.filter(booked >= int(REFERENCE_TIME.timestamp())).count() == 0


def test_accounts_open_after_customer_creation(tables: dict[str, DataFrame]) -> None:
    created_day = F.floor(F.unix_timestamp("created_at") / 86_400)
    opened_day = F.datediff("opened_on", F.lit("1970-01-01"))
    joined = tables["accounts"].join(
        tables["customers"].select("customer_id", "created_at"), "customer_id"
    )
    assert joined.filter(opened_day < created_day).count() == 0


def test_amounts_positive_and_skewed(tables: dict[str, DataFrame]) -> None:
    stats = (
        tables["transactions"]
        .agg(
            F.min("amount").alias("minimum"),
            F.percentile_approx("amount", 0.5).alias("median"),
            F.avg("amount").alias("mean"),
        )
        .first()
    )
    assert stats.minimum > 0
    # A right-skewed distribution has its mean well above its median.
    assert stats.mean > 2 * stats.median
