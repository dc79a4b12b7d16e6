"""Generate deterministic synthetic bank data as three Delta tables.

The tables are ``customers``, ``accounts`` and ``transactions``. Every value is a pure
function of (seed, column salt, row key) computed with ``xxhash64``, so the output for
a seed does not depend on partitioning, executor count or task order. Values that a
table shares with another one (an account's customer, a customer's name or city) are
recomputed from the key with the same salt instead of joined, so generation needs no
shuffle and nothing is collected to the driver.

Usage: ``python bench/datagen.py --rows 1000000 --out /tmp/bench-data [--seed 42]``
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

TABLE_NAMES = ("customers", "accounts", "transactions")

# A fixed instant instead of now(), because output must not change from one run to the
# next. Transactions are booked in the 3 years before it.
REFERENCE_TIME = datetime(2026, 1, 1, tzinfo=UTC)
BOOKING_WINDOW_START = REFERENCE_TIME.replace(year=REFERENCE_TIME.year - 3)
FIRST_BIRTH_DATE = date(1940, 1, 1)
LAST_BIRTH_DATE = date(2006, 12, 31)
FIRST_CUSTOMER_CREATED = datetime(2010, 1, 1, tzinfo=UTC)

# Default cap on rows per generated partition, which bounds the size of each Delta file.
DEFAULT_ROWS_PER_PARTITION = 1_000_000

_EPOCH_DATE = date(1970, 1, 1)
_SECONDS_PER_DAY = 86_400
# 18 years of 365.25 days: customers open their relationship as adults.
_ADULT_AGE_DAYS = 6_575

# fmt: off
FIRST_NAMES = (
    "Emma", "Louis", "Jade", "Gabriel", "Léa", "Raphaël", "Chloé", "Arthur", "Manon",
    "Hugo", "Camille", "Jules", "Zoé", "Lucas", "Inès", "Adam", "Sarah", "Nathan",
    "Lina", "Théo", "Mia", "Noah", "Anna", "Paul", "Sofia", "Leon", "Hannah", "Felix",
    "Marie", "Jonas", "Lena", "Lukas", "Julia", "Maximilian", "Laura", "Elias", "Lucía",
    "Oscar", "Martina", "Mateo", "Giulia", "Francesco", "Aurora", "Alessandro",
    "Olivia", "James", "Ava", "Liam", "Charlotte", "Ethan", "Amelia", "Mohamed",
    "Fatima", "Yasmine", "Wei", "Mei",
)

LAST_NAMES = (
    "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand",
    "Leroy", "Moreau", "Lefèvre", "Garnier", "Müller", "Schmidt", "Schneider",
    "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schröder", "Hoffmann", "García",
    "Fernández", "González", "Rodríguez", "López", "Martínez", "Sánchez", "Pérez",
    "Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci",
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "O'Brien",
    "Nguyen", "Benali", "Kowalski", "Silva",
)

# Reserved example domains (RFC 2606) so no generated address reaches a real mailbox.
EMAIL_DOMAINS = ("example.com", "example.org", "example.net", "mail.example.com")

# (country code, country, city, first 2 postcode digits). Repeating a country weights
# it.
CITIES = (
    ("FR", "France", "Paris", "75"),
    ("FR", "France", "Lyon", "69"),
    ("FR", "France", "Marseille", "13"),
    ("FR", "France", "Toulouse", "31"),
    ("FR", "France", "Bordeaux", "33"),
    ("FR", "France", "Lille", "59"),
    ("FR", "France", "Nice", "06"),
    ("FR", "France", "Bourg-en-Bresse", "01"),
    ("DE", "Germany", "Berlin", "10"),
    ("DE", "Germany", "Hamburg", "20"),
    ("DE", "Germany", "München", "80"),
    ("DE", "Germany", "Köln", "50"),
    ("DE", "Germany", "Frankfurt am Main", "60"),
    ("DE", "Germany", "Dresden", "01"),
    ("ES", "Spain", "Madrid", "28"),
    ("ES", "Spain", "Barcelona", "08"),
    ("ES", "Spain", "Valencia", "46"),
    ("IT", "Italy", "Roma", "00"),
    ("IT", "Italy", "Milano", "20"),
    ("IT", "Italy", "Torino", "10"),
    ("US", "United States", "New York", "10"),
    ("US", "United States", "Boston", "02"),
    ("US", "United States", "Chicago", "60"),
)

COUNTRY_CURRENCIES = {"FR": "EUR", "DE": "EUR", "ES": "EUR", "IT": "EUR", "US": "USD"}
FOREIGN_CURRENCIES = ("EUR", "USD", "GBP", "CHF", "JPY")
# Share of transactions, in basis points, booked in a random currency instead of the
# customer's home currency.
_FOREIGN_CURRENCY_WEIGHT = 800

# French bank codes (code banque) used as the first 5 digits of FR IBANs.
FR_BANK_CODES = ("30002", "30003", "30004", "30006", "20041", "10278", "11306", "13335")
# German bank codes (Bankleitzahl) used as the first 8 digits of DE IBANs.
DE_BANK_CODES = ("10070000", "20050550", "37040044", "50010517", "60050101", "70020270")

# (status, weight in basis points)
ACCOUNT_STATUSES = (
    ("active", 8_500),
    ("dormant", 800),
    ("closed", 500),
    ("frozen", 200),
)

# (weight in basis points, lowest cents, highest cents exclusive): piecewise-uniform
# buckets that give a right-skewed, heavy-tailed distribution.
BALANCE_BUCKETS = (
    (500, -200_000, 0),
    (4_000, 0, 100_000),
    (3_500, 100_000, 1_000_000),
    (1_500, 1_000_000, 10_000_000),
    (500, 10_000_000, 100_000_000),
)
AMOUNT_BUCKETS = (
    (3_000, 50, 1_000),
    (3_500, 1_000, 5_000),
    (2_200, 5_000, 20_000),
    (1_000, 20_000, 100_000),
    (250, 100_000, 500_000),
    (50, 500_000, 2_500_000),
)

# (channel, weight in basis points)
CHANNELS = (
    ("card", 4_500),
    ("contactless", 2_000),
    ("online", 2_000),
    ("direct_debit", 800),
    ("transfer", 700),
)

# Ordered from most to least frequent, because merchants are drawn with a skew towards
# the start of the list.
MERCHANTS = (
    "Carrefour", "Lidl", "Amazon", "Aldi", "Monoprix", "Rewe", "Auchan", "Edeka",
    "Mercadona", "Esselunga", "SNCF", "Deutsche Bahn", "Uber", "Shell", "TotalEnergies",
    "Starbucks", "McDonald's", "Boulangerie Paul", "Pharmacie Centrale", "Netflix",
    "Spotify", "Apple", "Google", "Orange", "Vodafone", "EDF", "Zalando", "IKEA",
    "Decathlon", "Fnac", "MediaMarkt", "Leroy Merlin", "Zara", "H&M", "Booking.com",
    "Airbnb", "Ryanair", "Air France", "Lufthansa", "Walmart", "Target", "Costco",
)

PURPOSE_WORDS = (
    "invoice", "rent", "gift", "refund", "subscription", "groceries", "dinner",
    "tickets", "deposit", "repair", "insurance", "membership", "fuel", "books",
    "school fees",
)
# fmt: on

# Folds the accented letters used in the name lists to ASCII for email local parts.
_ACCENTED = "àáâäãåçèéêëìíîïñòóôöõùúûüýÿ"
_UNACCENTED = "aaaaaaceeeeiiiinooooouuuuyy"


def table_sizes(rows: int) -> dict[str, int]:
    """Return the row count of each table for ``rows`` transactions."""
    return {
        "customers": max(1, rows // 20),
        "accounts": max(1, rows // 8),
        "transactions": rows,
    }


def build_tables(
    spark: SparkSession,
    rows: int,
    seed: int = 42,
    *,
    partitions: int | None = None,
) -> dict[str, DataFrame]:
    """Build the three tables as lazy DataFrames, keyed by table name.

    ``partitions`` sets the partition count of every table. By default it is the
    session's default parallelism, raised so that no partition exceeds
    DEFAULT_ROWS_PER_PARTITION rows. It changes file layout only, never values.
    """
    if rows < 1:
        raise ValueError(f"rows must be at least 1, got {rows}")
    if partitions is not None and partitions < 1:
        raise ValueError(f"partitions must be at least 1, got {partitions}")
    sizes = table_sizes(rows)
    return {
        "customers": _customers(spark, sizes, seed, partitions),
        "accounts": _accounts(spark, sizes, seed, partitions),
        "transactions": _transactions(spark, sizes, seed, partitions),
    }


def table_path(out_dir: str, table: str) -> str:
    """Return the location of ``table`` under ``out_dir``, which may be a URI."""
    return f"{out_dir.rstrip('/')}/{table}"


def write_table(df: DataFrame, path: str) -> None:
    """Write ``df`` as a Delta table at ``path``, replacing any table already there.

    Files of a replaced table stay on disk until the table is vacuumed.
    """
    df.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(
        path
    )


def generate(
    spark: SparkSession,
    out_dir: str,
    rows: int,
    seed: int = 42,
    *,
    partitions: int | None = None,
) -> dict[str, str]:
    """Write customers, accounts and transactions under ``out_dir`` and return paths.

    ``rows`` is the transaction count. There are ``max(1, rows // 20)`` customers and
    ``max(1, rows // 8)`` accounts. The same seed gives the same rows at any
    partitioning.
    """
    paths: dict[str, str] = {}
    for name, df in build_tables(spark, rows, seed, partitions=partitions).items():
        path = table_path(out_dir, name)
        write_table(df, path)
        paths[name] = path
    return paths


# --- value helpers ------------------------------------------------------------------


def _hash(seed: int, salt: str, key: Column) -> Column:
    return F.xxhash64(F.lit(seed), F.lit(salt), key)


def _uniform_int(seed: int, salt: str, key: Column, bound: int | Column) -> Column:
    """Return a long that is uniform in [0, bound) for a positive ``bound``."""
    if isinstance(bound, int):
        bound = F.lit(bound)
    return F.pmod(_hash(seed, salt, key), bound)


def _digits(seed: int, salt: str, key: Column, length: int) -> Column:
    """Return a string of ``length`` random decimal digits, leading zeros kept."""
    if not 1 <= length <= 18:
        raise ValueError(
            f"length must be between 1 and 18 so the value fits a long, got {length}"
        )
    number = _uniform_int(seed, salt, key, 10**length)
    return F.lpad(number.cast("string"), length, "0")


def _literal_array(values: Sequence[str]) -> Column:
    return F.array(*[F.lit(value) for value in values])


def _pick(values: Sequence[str], index: Column) -> Column:
    """Return ``values[index]`` for a 0-based index column."""
    return F.element_at(_literal_array(values), (index + 1).cast("int"))


def _weighted_index(
    seed: int, salt: str, key: Column, weights: Sequence[int]
) -> Column:
    """Return a 0-based index drawn with ``weights``, given in basis points."""
    if sum(weights) != 10_000:
        raise ValueError(f"weights must sum to 10000 basis points, got {sum(weights)}")
    roll = _uniform_int(seed, salt, key, 10_000)
    choice = None
    upper = 0
    for index, weight in enumerate(weights[:-1]):
        upper += weight
        condition = roll < upper
        choice = (
            F.when(condition, index)
            if choice is None
            else choice.when(condition, index)
        )
    last = len(weights) - 1
    return F.lit(last) if choice is None else choice.otherwise(last)


def _weighted_choice(
    seed: int, salt: str, key: Column, choices: Sequence[tuple[str, int]]
) -> Column:
    index = _weighted_index(seed, salt, key, [weight for _, weight in choices])
    return _pick([value for value, _ in choices], index)


def _bucketed_cents(
    seed: int, salt: str, key: Column, buckets: Sequence[tuple[int, int, int]]
) -> Column:
    """Return a cents amount drawn from piecewise-uniform ``buckets``."""
    bucket = _weighted_index(
        seed, f"{salt}.bucket", key, [weight for weight, _, _ in buckets]
    )
    lows = F.array(*[F.lit(low) for _, low, _ in buckets])
    widths = F.array(*[F.lit(high - low) for _, low, high in buckets])
    position = (bucket + 1).cast("int")
    low = F.element_at(lows, position).cast("long")
    width = F.element_at(widths, position).cast("long")
    return low + _uniform_int(seed, f"{salt}.value", key, width)


def _cents_to_decimal(cents: Column) -> Column:
    # Exact decimal division, because going through a double could round a cent.
    return (cents.cast("decimal(18,0)") / F.lit(100)).cast("decimal(18,2)")


def _epoch_day_to_date(day: Column) -> Column:
    return F.date_add(F.lit(_EPOCH_DATE), day.cast("int"))


def _epoch_day(value: date) -> int:
    return (value - _EPOCH_DATE).days


def _epoch_second(value: datetime) -> int:
    return int(value.timestamp())


def _range(
    spark: SparkSession, count: int, partitions: int | None, key: str
) -> DataFrame:
    """Return ``count`` rows with a single bigint column ``key`` numbered from 1."""
    if partitions is None:
        # NOTE: sparkContext is not available under Spark Connect, so a Connect session
        # must pass partitions explicitly.
        needed = -(-count // DEFAULT_ROWS_PER_PARTITION)
        partitions = max(spark.sparkContext.defaultParallelism, needed)
    return spark.range(1, count + 1, 1, partitions).select(F.col("id").alias(key))


# --- per-customer values, shared by every table that references a customer ----------
# Salts start with "customers." whichever table computes them, so that an account or a
# transaction gets the same name, city and dates as the customer row.


def _first_name(seed: int, customer_id: Column) -> Column:
    return _pick(
        FIRST_NAMES,
        _uniform_int(seed, "customers.first_name", customer_id, len(FIRST_NAMES)),
    )


def _last_name(seed: int, customer_id: Column) -> Column:
    return _pick(
        LAST_NAMES,
        _uniform_int(seed, "customers.last_name", customer_id, len(LAST_NAMES)),
    )


def _city_index(seed: int, customer_id: Column) -> Column:
    return _uniform_int(seed, "customers.city", customer_id, len(CITIES))


def _city_field(city_index: Column, field: int) -> Column:
    return _pick([city[field] for city in CITIES], city_index)


def _birth_day(seed: int, customer_id: Column) -> Column:
    first = _epoch_day(FIRST_BIRTH_DATE)
    span = _epoch_day(LAST_BIRTH_DATE) - first + 1
    return F.lit(first) + _uniform_int(seed, "customers.birth_date", customer_id, span)


def _created_second(seed: int, customer_id: Column) -> Column:
    """Return the customer's creation time in epoch seconds.

    It falls after the customer's 18th birthday and at least one full day before
    REFERENCE_TIME, so that accounts opened later still fit before it.
    """
    adult_second = (_birth_day(seed, customer_id) + _ADULT_AGE_DAYS) * _SECONDS_PER_DAY
    low = F.greatest(F.lit(_epoch_second(FIRST_CUSTOMER_CREATED)), adult_second)
    high = F.lit(_epoch_second(REFERENCE_TIME) - _SECONDS_PER_DAY)
    return low + _uniform_int(seed, "customers.created_at", customer_id, high - low)


def _phone(seed: int, customer_id: Column, country_code: Column) -> Column:
    """Return a mobile number in the country's usual written form."""
    digits = _digits(seed, "customers.phone", customer_id, 9)

    def part(position: int, length: int) -> Column:
        return F.substring(digits, position, length)

    return (
        F.when(
            country_code == "FR",
            F.concat_ws(
                " ", F.lit("+33 6"), part(1, 2), part(3, 2), part(5, 2), part(7, 2)
            ),
        )
        .when(
            country_code == "DE",
            F.concat(F.lit("+49 15"), part(1, 1), F.lit(" "), part(2, 8)),
        )
        .when(
            country_code == "ES",
            F.concat(
                F.lit("+34 6"),
                part(1, 2),
                F.lit(" "),
                part(3, 3),
                F.lit(" "),
                part(6, 3),
            ),
        )
        .when(
            country_code == "IT",
            F.concat(
                F.lit("+39 3"),
                part(1, 2),
                F.lit(" "),
                part(3, 3),
                F.lit(" "),
                part(6, 4),
            ),
        )
        # 555 numbers are reserved for fiction in the North American Numbering Plan.
        .otherwise(F.concat(F.lit("+1-555-"), part(1, 3), F.lit("-"), part(4, 4)))
    )


def _email(
    seed: int, customer_id: Column, first_name: Column, last_name: Column
) -> Column:
    def local_part(name: Column) -> Column:
        folded = F.translate(F.lower(name), _ACCENTED, _UNACCENTED)
        return F.regexp_replace(folded, "[^a-z]", "")

    domain = _pick(
        EMAIL_DOMAINS,
        _uniform_int(seed, "customers.email", customer_id, len(EMAIL_DOMAINS)),
    )
    return F.concat(
        local_part(first_name),
        F.lit("."),
        local_part(last_name),
        customer_id.cast("string"),
        F.lit("@"),
        domain,
    )


# --- per-account values, shared by accounts and transactions ------------------------


def _account_customer_id(seed: int, account_id: Column, customers: int) -> Column:
    # There are at least as many accounts as customers, so the first `customers`
    # accounts go one to each customer and no customer is left without an account.
    drawn = _uniform_int(seed, "accounts.customer_id", account_id, customers) + 1
    return F.when(account_id <= customers, account_id).otherwise(drawn)


def _opened_day(seed: int, account_id: Column, customer_id: Column) -> Column:
    """Return the account's opening day, from the customer's creation day to the day
    before REFERENCE_TIME."""
    created_day = F.floor(_created_second(seed, customer_id) / _SECONDS_PER_DAY)
    last_day = F.lit(_epoch_day(REFERENCE_TIME.date()))
    return created_day + _uniform_int(
        seed, "accounts.opened_on", account_id, last_day - created_day
    )


def _iban(seed: int, account_id: Column, country_code: Column) -> Column:
    """Return an IBAN with valid ISO 13616 check digits.

    German customers get a DE IBAN. Only the FR and DE layouts are implemented, so all
    other customers get a FR IBAN.
    """
    fr_bank = _pick(
        FR_BANK_CODES,
        _uniform_int(seed, "accounts.iban.fr_bank", account_id, len(FR_BANK_CODES)),
    )
    fr_branch = _digits(seed, "accounts.iban.fr_branch", account_id, 5)
    fr_account = _digits(seed, "accounts.iban.fr_account", account_id, 11)
    # French RIB key: 97 - ((89 * bank + 15 * branch + 3 * account) mod 97).
    rib_weighted = (
        fr_bank.cast("long") * 89
        + fr_branch.cast("long") * 15
        + fr_account.cast("long") * 3
    )
    rib_key = F.lpad(
        (F.lit(97) - F.pmod(rib_weighted, F.lit(97))).cast("string"), 2, "0"
    )
    fr_bban = F.concat(fr_bank, fr_branch, fr_account, rib_key)

    de_bank = _pick(
        DE_BANK_CODES,
        _uniform_int(seed, "accounts.iban.de_bank", account_id, len(DE_BANK_CODES)),
    )
    de_bban = F.concat(
        de_bank, _digits(seed, "accounts.iban.de_account", account_id, 10)
    )

    is_german = country_code == "DE"
    bban = F.when(is_german, de_bban).otherwise(fr_bban)
    iban_country = F.when(is_german, F.lit("DE")).otherwise(F.lit("FR"))
    # ISO 13616 check digits are 98 minus the remainder mod 97 of BBAN + country code +
    # "00", with letters replaced by numbers from A=10 to Z=35, so FR becomes "152700"
    # and DE "131400". That number has up to 29 digits, too many for a long, so it is
    # reduced as decimal(38,0).
    country_digits = F.when(is_german, F.lit("131400")).otherwise(F.lit("152700"))
    remainder = F.pmod(F.concat(bban, country_digits).cast("decimal(38,0)"), F.lit(97))
    check = F.lpad((F.lit(98) - remainder).cast("int").cast("string"), 2, "0")
    return F.concat(iban_country, check, bban)


# --- tables -------------------------------------------------------------------------


def _customers(
    spark: SparkSession, sizes: dict[str, int], seed: int, partitions: int | None
) -> DataFrame:
    customer_id = F.col("customer_id")
    base = _range(spark, sizes["customers"], partitions, "customer_id").select(
        customer_id,
        _first_name(seed, customer_id).alias("first_name"),
        _last_name(seed, customer_id).alias("last_name"),
        _city_index(seed, customer_id).alias("city_index"),
    )
    city_index = F.col("city_index")
    postcode_tail = _digits(seed, "customers.postcode", customer_id, 3)
    return base.select(
        customer_id,
        "first_name",
        "last_name",
        _email(seed, customer_id, F.col("first_name"), F.col("last_name")).alias(
            "email"
        ),
        _phone(seed, customer_id, _city_field(city_index, 0)).alias("phone"),
        _epoch_day_to_date(_birth_day(seed, customer_id)).alias("birth_date"),
        F.concat(_city_field(city_index, 3), postcode_tail).alias("postcode"),
        _city_field(city_index, 2).alias("city"),
        _city_field(city_index, 1).alias("country"),
        F.timestamp_seconds(_created_second(seed, customer_id)).alias("created_at"),
    )


def _accounts(
    spark: SparkSession, sizes: dict[str, int], seed: int, partitions: int | None
) -> DataFrame:
    account_id = F.col("account_id")
    customer_id = F.col("customer_id")
    base = _range(spark, sizes["accounts"], partitions, "account_id").select(
        account_id,
        _account_customer_id(seed, account_id, sizes["customers"]).alias("customer_id"),
        _weighted_choice(seed, "accounts.status", account_id, ACCOUNT_STATUSES).alias(
            "status"
        ),
    )
    country_code = _city_field(_city_index(seed, customer_id), 0)
    balance_cents = _bucketed_cents(
        seed, "accounts.balance", account_id, BALANCE_BUCKETS
    )
    # A closed account has been emptied before closing.
    balance = F.when(F.col("status") == "closed", F.lit(0).cast("long")).otherwise(
        balance_cents
    )
    return base.select(
        account_id,
        customer_id,
        _iban(seed, account_id, country_code).alias("iban"),
        _epoch_day_to_date(_opened_day(seed, account_id, customer_id)).alias(
            "opened_on"
        ),
        _cents_to_decimal(balance).alias("balance"),
        "status",
    )


def _transactions(
    spark: SparkSession, sizes: dict[str, int], seed: int, partitions: int | None
) -> DataFrame:
    txn_id = F.col("txn_id")
    account_id = F.col("account_id")
    customer_id = F.col("customer_id")

    keyed = _range(spark, sizes["transactions"], partitions, "txn_id").select(
        txn_id,
        (
            _uniform_int(seed, "transactions.account_id", txn_id, sizes["accounts"]) + 1
        ).alias("account_id"),
    )
    with_customer = keyed.select(
        txn_id,
        account_id,
        _account_customer_id(seed, account_id, sizes["customers"]).alias("customer_id"),
    )

    # Drawing twice and keeping the smaller index favours merchants early in the list.
    merchant_index = F.least(
        _uniform_int(seed, "transactions.merchant.a", txn_id, len(MERCHANTS)),
        _uniform_int(seed, "transactions.merchant.b", txn_id, len(MERCHANTS)),
    )
    city_index = _city_index(seed, customer_id)
    window_start = F.greatest(
        _opened_day(seed, account_id, customer_id) * _SECONDS_PER_DAY,
        F.lit(_epoch_second(BOOKING_WINDOW_START)),
    )
    window_end = F.lit(_epoch_second(REFERENCE_TIME))
    attributes = with_customer.select(
        txn_id,
        account_id,
        customer_id,
        _weighted_choice(seed, "transactions.channel", txn_id, CHANNELS).alias(
            "channel"
        ),
        _pick(MERCHANTS, merchant_index).alias("merchant"),
        _city_field(city_index, 0).alias("country_code"),
        _city_field(city_index, 2).alias("city"),
        (
            window_start
            + _uniform_int(
                seed, "transactions.booked_at", txn_id, window_end - window_start
            )
        ).alias("booked_second"),
    )

    currency_by_country = F.create_map(
        *[F.lit(item) for pair in COUNTRY_CURRENCIES.items() for item in pair]
    )
    home_currency = currency_by_country[F.col("country_code")]
    foreign_currency = _pick(
        FOREIGN_CURRENCIES,
        _uniform_int(
            seed, "transactions.currency.foreign", txn_id, len(FOREIGN_CURRENCIES)
        ),
    )
    is_foreign = (
        _uniform_int(seed, "transactions.currency", txn_id, 10_000)
        < _FOREIGN_CURRENCY_WEIGHT
    )
    amount_cents = _bucketed_cents(seed, "transactions.amount", txn_id, AMOUNT_BUCKETS)

    return attributes.select(
        txn_id,
        account_id,
        customer_id,
        _cents_to_decimal(amount_cents).alias("amount"),
        F.when(is_foreign, foreign_currency).otherwise(home_currency).alias("currency"),
        F.timestamp_seconds(F.col("booked_second")).alias("booked_at"),
        "merchant",
        _description(seed).alias("description"),
        "channel",
    )


def _description(seed: int) -> Column:
    """Return statement text for a row with txn_id, customer_id, channel, merchant, city
    and booked_second columns.

    Transfer descriptions contain the customer's full name, as real bank statements
    often do, so that free-text scrubbing has personal data to find.
    """
    txn_id = F.col("txn_id")
    customer_id = F.col("customer_id")
    channel = F.col("channel")
    merchant = F.col("merchant")
    # Formatting a date, not a timestamp, keeps the text independent of the session
    # time zone.
    booked_day = _epoch_day_to_date(F.floor(F.col("booked_second") / _SECONDS_PER_DAY))
    purpose = _pick(
        PURPOSE_WORDS,
        _uniform_int(
            seed, "transactions.description.purpose", txn_id, len(PURPOSE_WORDS)
        ),
    )
    reference = _digits(seed, "transactions.description.reference", txn_id, 10)
    payer = F.concat_ws(
        " ", _first_name(seed, customer_id), F.upper(_last_name(seed, customer_id))
    )

    return (
        F.when(
            channel == "card",
            F.concat_ws(
                " ",
                F.lit("CARD"),
                F.upper(merchant),
                F.date_format(booked_day, "dd/MM"),
            ),
        )
        .when(
            channel == "contactless",
            F.concat_ws(" ", F.lit("Contactless payment"), merchant, F.col("city")),
        )
        .when(
            channel == "online",
            F.concat_ws(
                " ", F.lit("Online purchase"), merchant, F.lit("order"), reference
            ),
        )
        .when(
            channel == "direct_debit",
            F.concat_ws(
                " ", F.lit("Direct debit"), merchant, purpose, F.lit("ref"), reference
            ),
        )
        .otherwise(
            F.concat_ws(
                " ",
                F.lit("Transfer from"),
                payer,
                F.lit("to"),
                merchant,
                F.lit("-"),
                purpose,
            )
        )
    )


# --- command line -------------------------------------------------------------------


def _build_session(master: str) -> SparkSession:
    from delta import configure_spark_with_delta_pip

    builder = (
        SparkSession.builder.master(master)
        .appName("datagen")
        .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
        .config(
            "spark.sql.catalog.spark_catalog",
            "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        )
        .config("spark.ui.enabled", "false")
        # Delta rebuilds table state with 50 partitions by default, which makes each
        # read of a freshly written single-commit table cost seconds.
        .config("spark.databricks.delta.snapshotPartitions", "2")
    )
    return configure_spark_with_delta_pip(builder).getOrCreate()


def main(argv: Sequence[str] | None = None) -> int:
    """Write the tables from command-line arguments and print rows and seconds each."""
    parser = argparse.ArgumentParser(
        description=(
            "Write deterministic synthetic customers, accounts and transactions"
            " Delta tables."
        )
    )
    parser.add_argument(
        "--rows",
        type=int,
        required=True,
        help="number of transactions (customers: rows // 20, accounts: rows // 8)",
    )
    parser.add_argument(
        "--out",
        required=True,
        help="output directory. Each table goes to a subdirectory of its name.",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=42,
        help="seed. The same seed writes the same rows (default: 42)",
    )
    parser.add_argument(
        "--partitions",
        type=int,
        default=None,
        help="partitions, and so data files, per table (default: derived from --rows)",
    )
    parser.add_argument(
        "--master", default="local[*]", help="Spark master URL (default: local[*])"
    )
    args = parser.parse_args(argv)
    if args.rows < 1:
        parser.error(f"--rows must be at least 1, got {args.rows}")
    if args.partitions is not None and args.partitions < 1:
        parser.error(f"--partitions must be at least 1, got {args.partitions}")

    spark = _build_session(args.master)
    try:
        tables = build_tables(spark, args.rows, args.seed, partitions=args.partitions)
        total_seconds = 0.0
        for name, df in tables.items():
            path = table_path(args.out, name)
            start = time.perf_counter()
            write_table(df, path)
            seconds = time.perf_counter() - start
            total_seconds += seconds
            # Counted from the written table, outside the timed write, as a check.
            count = spark.read.format("delta").load(path).count()
            print(f"{name:<13} {count:>12,} rows {seconds:8.1f} s  {path}")
        print(f"{'total write':<13} {'':>12}      {total_seconds:8.1f} s")
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
