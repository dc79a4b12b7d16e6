"""Reading tables for design work with the production readers, and a throwaway key."""

from __future__ import annotations

from pathlib import Path

from pyspark.sql import DataFrame, SparkSession

from engine.config.model import Config, SourceSpec, Where
from engine.io import read_source
from engine.keys import MasterKey, decode_key, fingerprint
from engine.run import read_sources

FOLDER_FORMATS = ("csv", "parquet", "delta")


def read_tables(
    spark: SparkSession, folder: str | Path, format: str = "csv", options: dict[str, str] | None = None
) -> dict[str, DataFrame]:
    """Read every table of a local folder the way a config would, before any config exists.

    CSV tables are the ``*.csv`` files (read as text columns, as the engine reads undeclared
    CSV columns); Parquet and Delta tables are the subfolders. Names are file or folder stems.
    """
    if format not in FOLDER_FORMATS:
        raise ValueError(f"format must be one of {', '.join(FOLDER_FORMATS)}, got '{format}'")
    root = Path(folder)
    if not root.is_dir():
        raise ValueError(f"'{folder}' is not a folder")
    if format == "csv":
        paths = sorted(root.glob("*.csv"))
    else:
        paths = sorted(
            path for path in root.iterdir() if path.is_dir() and not path.name.startswith((".", "_"))
        )
    tables = {}
    for path in paths:
        name = path.stem if format == "csv" else path.name
        where = Where("<design>", None, f"tables.{name}.source")
        spec = SourceSpec(format, str(path), None, dict(options or {}), {}, where)
        tables[name] = read_source(spark, spec).data
    if not tables:
        raise ValueError(f"no {format} tables found in '{folder}'")
    return tables


def read_config_tables(spark: SparkSession, config: Config) -> dict[str, DataFrame]:
    """Read the sources of ``config`` exactly as a production run does, without helper columns."""
    return {name: source.data for name, source in read_sources(spark, config).items()}


def key_from_text(text: str) -> MasterKey:
    """Return the MasterKey of hex or base64 key text, such as ``engine.keys.new_key_text()``."""
    material = decode_key(text, "the key text given to key_from_text")
    return MasterKey(material=material, fingerprint=fingerprint(material))
