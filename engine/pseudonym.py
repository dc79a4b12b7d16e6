"""Keyed HMAC-SHA256 as a Spark Column, and the output forms of a pseudonym.

HMAC(K, m) = SHA256((K0 xor opad) || SHA256((K0 xor ipad) || m)), as RFC 2104 defines it. With
K fixed per domain, both padded keys are constant 64-byte binary literals, so the whole function is
two ``sha2`` calls and two ``concat`` calls: built-ins that Spark runs in generated code, with no
row sent to Python.

Where the session has the engine's JVM function (engine.jvm), the same HMAC is one call of it
instead, at about a quarter of the cost; both forms give the same text.

In production the padded keys are not literals: they are columns of a one-row key table that
``engine.compile.KeyRing`` broadcasts and cross-joins, so plans name a column where a literal
would print its bytes. Spark redacts literals in explain output when asked
(``spark.sql.redaction.string.regex``), but the event log's plan tree (SparkPlanInfo) shows
them in full.
"""

from __future__ import annotations

import hashlib

from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql import types as T

import engine.jvm
from engine.config.model import Domain

_BLOCK_BYTES = 64
DEFAULT_BITS = {"hex": 128, "base32": 120}
# Widest integer pseudonym for each integer column type: the sign bit stays clear.
INTEGER_BITS = {T.ByteType: 7, T.ShortType: 15, T.IntegerType: 31, T.LongType: 63}
_MAX_INTEGER_BITS = 63


def padded_keys(key: bytes) -> tuple[bytes, bytes]:
    """Return the inner and outer padded keys of HMAC-SHA256 for ``key``."""
    if len(key) > _BLOCK_BYTES:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK_BYTES, b"\x00")
    inner = bytes(byte ^ 0x36 for byte in key)
    outer = bytes(byte ^ 0x5C for byte in key)
    return inner, outer


PaddedKeyColumns = tuple[Column, Column]


def hmac_sha256_hex(key: bytes | PaddedKeyColumns, message: Column, jvm: bool | None = None) -> Column:
    """Return HMAC-SHA256 of ``message`` (BINARY or STRING as UTF-8) as 64 lower-case hex digits.

    ``key`` is the raw key, which becomes literals (tests, benchmarks), or the inner and outer
    padded keys as BINARY columns. NULL in gives NULL out. ``jvm`` picks the JVM function or
    the built-ins; by default the JVM function when the active session has it.
    """
    if isinstance(key, (bytes, bytearray)):
        inner_bytes, outer_bytes = padded_keys(bytes(key))
        inner_key, outer_key = F.lit(inner_bytes), F.lit(outer_bytes)
    else:
        inner_key, outer_key = key
    data = message.cast("binary")
    if jvm if jvm is not None else engine.jvm.ready():
        return F.call_function(engine.jvm.FUNCTION, inner_key, outer_key, data)
    inner = F.unhex(F.sha2(F.concat(inner_key, data), 256))
    return F.sha2(F.concat(outer_key, inner), 256)


def output_bits(domain: Domain, dtype: T.DataType) -> int:
    """Return how many bits of the HMAC the pseudonym keeps for a column of type ``dtype``."""
    if domain.format == "integer":
        widest = integer_bits_for(dtype)
        return min(domain.bits or widest, widest)
    return domain.bits or DEFAULT_BITS[domain.format]


def integer_bits_for(dtype: T.DataType) -> int:
    for type_class, bits in INTEGER_BITS.items():
        if isinstance(dtype, type_class):
            return bits
    return _MAX_INTEGER_BITS


def render(digest_hex: Column, domain: Domain, dtype: T.DataType) -> Column:
    """Turn a hex HMAC into the domain's output form, typed for a column of ``dtype``."""
    bits = output_bits(domain, dtype)
    if domain.format == "integer":
        # The first 16 hex digits are 64 bits. conv() to base -10 reads them as a signed long;
        # its low ``bits`` bits (bits <= 63) are those of the unsigned number, so the mask gives
        # the unsigned value modulo 2**bits without decimal arithmetic.
        signed = F.conv(F.substring(digest_hex, 1, 16), 16, -10).cast(T.LongType())
        number = signed.bitwiseAND(F.lit((1 << bits) - 1))
        target = dtype if isinstance(dtype, tuple(INTEGER_BITS)) else T.LongType()
        value = number.cast(target)
        return value if not isinstance(dtype, T.StringType) else value.cast("string")
    if domain.format == "base32":
        text = _base32hex(digest_hex, bits)
    else:
        text = F.substring(digest_hex, 1, bits // 4)
    return F.concat(F.lit(domain.prefix), text) if domain.prefix else text


def _base32hex(digest_hex: Column, bits: int) -> Column:
    # conv() handles up to 64 bits, so 40-bit slices (10 hex digits, 8 base-32 digits) are
    # converted one by one. The alphabet is RFC 4648 base32hex, lower-cased.
    chunks = []
    for start in range(0, (bits + 39) // 40):
        piece = F.substring(digest_hex, start * 10 + 1, 10)
        chunks.append(F.lpad(F.lower(F.conv(piece, 16, 32)), 8, "0"))
    return F.substring(F.concat(*chunks), 1, bits // 5)


def pseudonym(key: bytes | PaddedKeyColumns, canonical: Column, domain: Domain, dtype: T.DataType) -> Column:
    """Return the pseudonym of already-canonical text, in the domain's output form."""
    return render(hmac_sha256_hex(key, canonical), domain, dtype)
