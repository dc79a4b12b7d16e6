"""Canonical forms of values before they are hashed, built from Spark built-in functions.

Two spellings of one value must give one pseudonym, or joins break: composed and decomposed
Unicode, stray whitespace, an id read as INT in one table and as STRING in another. Each function
here returns a pair: the canonical text (NULL stays NULL) and a boolean Column that is true where a
non-NULL value has no canonical form (None when every value has one).
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql import types as T

from engine.config.model import Domain

# Java regex: White_Space covers NBSP, ideographic space and the other Unicode spaces.
_EDGE_SPACE = r"^\p{IsWhite_Space}+|\p{IsWhite_Space}+$"
_INTEGER_TEXT = r"^[+-]?[0-9]+(\.0*)?$"
_DECIMAL_ID = T.DecimalType(38, 0)
INTEGRAL_TYPES = (T.ByteType, T.ShortType, T.IntegerType, T.LongType)
NUMERIC_TYPES = INTEGRAL_TYPES + (T.DecimalType, T.FloatType, T.DoubleType)


def canonical_text(value: Column, dtype: T.DataType, domain: Domain) -> tuple[Column, Column | None]:
    """Return the canonical text of ``value`` in ``domain`` and its invalid-value flag."""
    if domain.type == "integer":
        return canonical_integer(value, dtype)
    text = value if isinstance(dtype, T.StringType) else value.cast("string")
    if domain.normalize == "nfc":
        text = F.when(text.isNotNull(), _compose(text))
    if domain.trim:
        text = F.regexp_replace(text, _EDGE_SPACE, "")
    if domain.case == "fold":
        text = F.lower(text)
    return text, None


def _compose(text: Column) -> Column:
    """Compose ``text`` to Unicode NFC with the ICU4J library that Spark 4 ships.

    ``reflect`` calls a static Java method inside the JVM, so no row goes to Python. The
    caller guards NULL because ICU throws on it.
    """
    return F.call_function(
        "reflect", F.lit("com.ibm.icu.text.Normalizer"), F.lit("compose"), text, F.lit(False)
    )


def canonical_integer(value: Column, dtype: T.DataType) -> tuple[Column, Column | None]:
    """Return the decimal digits of an integer id, whatever type it was read as.

    ``7``, ``7.0`` (DECIMAL or DOUBLE), ``"007"`` and ``" +7 "`` all become ``"7"``. A value
    with a fraction or letters is flagged invalid rather than given a pseudonym of its own.
    """
    if isinstance(dtype, INTEGRAL_TYPES):
        return value.cast("string"), None
    if isinstance(dtype, (T.DecimalType, T.FloatType, T.DoubleType)):
        number = value.try_cast(_DECIMAL_ID)
        whole = value.try_cast("double") == F.floor(value.try_cast("double"))
        invalid = value.isNotNull() & (number.isNull() | ~F.coalesce(whole, F.lit(False)))
        return F.when(~invalid, number.cast("string")), invalid
    trimmed = F.regexp_replace(value.cast("string"), _EDGE_SPACE, "")
    digits = F.regexp_extract(trimmed, r"^([+-]?[0-9]+)", 1)
    number = F.when(trimmed.rlike(_INTEGER_TEXT), digits.try_cast(_DECIMAL_ID))
    invalid = value.isNotNull() & number.isNull()
    return number.cast("string"), invalid


def encode_tuple(parts: list[Column]) -> Column:
    """Encode canonical parts injectively: NULL, empty and separator-bearing parts never clash.

    Each part becomes ``N`` when NULL, else ``S<byte length>:<text>``. The length prefix is
    what makes the encoding injective. A tuple of only NULLs stays NULL.
    """
    if len(parts) == 1:
        # NOTE: a single part stays as it is, so that one-column pseudonyms do not depend on this
        # encoding. A single value equal to a tuple's encoding (S1:aS1:b) therefore shares its
        # pseudonym in the same domain; a separate subkey for tuples would end that.
        return parts[0]
    encoded = [
        F.when(part.isNull(), F.lit("N")).otherwise(
            F.concat(F.lit("S"), F.octet_length(part).cast("string"), F.lit(":"), part)
        )
        for part in parts
    ]
    all_null = F.lit(True)
    for part in parts:
        all_null = all_null & part.isNull()
    return F.when(~all_null, F.concat(*encoded))
