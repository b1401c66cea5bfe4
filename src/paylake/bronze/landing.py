"""Landing files of a bronze table: discovery up to ``as_of``, header checks, and typed reading.

Files are read as strings first so a malformed value is never lost: ``_raw`` keeps every value as delivered,
typed columns are derived with ``try_cast`` and a failed cast becomes a ``malformed_<column>`` rejection.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from paylake.config.bronze import BronzeTableConfig
from paylake.errors import IngestionError
from paylake.io.objects import ObjectStore, open_objects
from paylake.lineage import EXTRACT_DATE, SOURCE_FILE, SOURCE_ROW
from paylake.quality.gate import CheckSpec

logger = logging.getLogger(__name__)

RAW, CORRUPT = "_raw", "_corrupt_record"
HEADER_BYTES = 1 << 16  # a header row longer than this is not a header
_DATE_TEXT = r"^\d{4}-\d{2}-\d{2}$"
_TIMESTAMP_TEXT = r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?(Z|[+-]\d{2}:?\d{2})?$"


@dataclass(frozen=True)
class LandingZone:
    """Where landing files are, and where a local Spark reads copies of remote ones from.

    ``staging`` is None where Spark reads the files in place (a local landing zone, or S3 on Databricks).
    """

    objects: ObjectStore
    staging: Path | None = None


@dataclass(frozen=True)
class LandingFile:
    """One landing file of a table and its extract date (from the file name)."""

    path: str
    name: str
    extract_date: date
    size_bytes: int
    objects: ObjectStore = field(compare=False, repr=False)

    def sha256(self) -> str:
        """Checksum of the file's bytes."""
        return self.objects.sha256(self.path)


def discover_files(landing: LandingZone | str, config: BronzeTableConfig, as_of: date) -> list[LandingFile]:
    """Files of ``config``'s table dated on or before ``as_of``, oldest first.

    Files whose names do not follow the table's pattern are logged and left alone.
    """
    objects = landing.objects if isinstance(landing, LandingZone) else open_objects(landing)
    pattern = config.source.file_regex(config.table)
    found = []
    for item in objects.list(config.source_path):
        match = pattern.fullmatch(item.name)
        if match is None:
            logger.warning("ignoring %s: name does not match %s", item.path, config.source.file_name)
            continue
        try:
            extract_date = datetime.strptime(match.group("date"), config.source.date_format).date()
        except ValueError:
            logger.warning("ignoring %s: %r is not a valid date", item.path, match.group("date"))
            continue
        if extract_date <= as_of:
            found.append(LandingFile(item.path, item.name, extract_date, item.size, objects))
    return sorted(found, key=lambda f: (f.extract_date, f.name))


def check_header(file: LandingFile, config: BronzeTableConfig) -> None:
    """Check a file's header row against the declared columns.

    Raises:
        IngestionError: the header is missing or differs; names the file and the columns.
    """
    options = config.source.options
    first = file.objects.read_bytes(file.path, limit=HEADER_BYTES).split(b"\n", 1)[0]
    text = first.decode("utf-8", errors="replace").lstrip("\ufeff").rstrip("\r\n")
    if not text:
        raise IngestionError(f"{file.path}: empty file, expected a header row")
    header = next(csv.reader(io.StringIO(text), delimiter=options.delimiter, quotechar=options.quote))
    expected = config.column_names
    if header == expected:
        return
    missing = [c for c in expected if c not in header]
    extra = [c for c in header if c not in expected]
    detail = []
    if missing:
        detail.append(f"missing columns {missing}")
    if extra:
        detail.append(f"unexpected columns {extra}")
    if not detail:
        detail.append(f"columns in another order: {header}")
    raise IngestionError(f"{file.path}: header does not match bronze/{config.table} metadata: " + "; ".join(detail))


def read_landing(
    spark: SparkSession, files: Sequence[LandingFile], config: BronzeTableConfig, staging: Path | None = None
) -> DataFrame:
    """Read landing files as strings, with ``_corrupt_record``, ``_source_file``, ``_source_row``, ``_extract_date``.

    With ``staging``, each file is first copied there (same base name) and Spark reads the copy.
    """
    paths = [f.objects.local_copy(f.path, staging) if staging else f.path for f in files]
    options = config.source.options
    schema = ", ".join(f"`{c}` string" for c in config.column_names) + f", {CORRUPT} string"
    raw = spark.read.csv(
        paths,
        schema=schema,
        header=True,
        mode="PERMISSIVE",
        columnNameOfCorruptRecord=CORRUPT,
        sep=options.delimiter,
        quote=options.quote,
        escape=options.escape,
        encoding=options.encoding,
        nullValue=options.null_value,
        multiLine=True,
    )
    dates = F.create_map(*[x for f in files for x in (F.lit(f.name), F.lit(f.extract_date))])
    in_file_order = Window.partitionBy(SOURCE_FILE).orderBy("_mid")
    return (
        raw.withColumn(SOURCE_FILE, F.col("_metadata.file_name"))
        .withColumn("_mid", F.monotonically_increasing_id())
        .withColumn(SOURCE_ROW, F.row_number().over(in_file_order))
        .withColumn(EXTRACT_DATE, dates[F.col(SOURCE_FILE)])
        .drop("_mid")
    )


def _typed(column: str, spark_type: str) -> Column:
    raw = F.col(column)
    cast = F.expr(f"try_cast(`{column}` AS {spark_type})")
    # Spark's cast accepts partial dates such as '2026'; the contract says ISO dates, so check the text first.
    if spark_type == "date":
        return F.when(raw.rlike(_DATE_TEXT), cast)
    if spark_type == "timestamp":
        return F.when(raw.rlike(_TIMESTAMP_TEXT), cast)
    if spark_type == "boolean":
        return F.when(F.lower(raw).isin("true", "false"), cast)
    return cast


def typed_rows(raw: DataFrame, config: BronzeTableConfig) -> DataFrame:
    """Typed columns plus ``_raw`` (a struct of the delivered strings) and the source bookkeeping columns."""
    names = config.column_names
    return raw.select(
        *[_typed(c.name, c.type).alias(c.name) for c in config.columns],
        F.struct(*[F.col(n) for n in names]).alias(RAW),
        CORRUPT,
        SOURCE_FILE,
        SOURCE_ROW,
        EXTRACT_DATE,
    )


def parse_checks(config: BronzeTableConfig) -> list[CheckSpec]:
    """Built-in reject rules every bronze table gets before its declared rules.

    ``malformed_row`` (wrong number of fields), ``malformed_<column>`` (a value that is not of the declared
    type) and ``not_null_<column>`` for key, sequence and ``nullable: false`` columns unless declared already.
    """
    checks = [
        CheckSpec(
            "malformed_row",
            "parse",
            "reject",
            F.col(CORRUPT).isNull(),
            F.concat(
                F.lit(f"row does not have the {len(config.columns)} fields of the header: "),
                F.substring(CORRUPT, 1, 200),
            ),
        )
    ]
    for column in config.columns:
        if column.type == "string":
            continue
        raw = F.col(f"{RAW}.{column.name}")
        checks.append(
            CheckSpec(
                f"malformed_{column.name}",
                "parse",
                "reject",
                raw.isNull() | F.col(column.name).isNotNull(),
                F.concat(F.lit(f"{column.name}='"), F.substring(raw, 1, 100), F.lit(f"' is not a valid {column.type}")),
            )
        )
    declared = {r.column for r in config.quality.rules if r.type == "not_null"}
    required = dict.fromkeys(
        [*config.primary_key, config.sequence_column, *[c.name for c in config.columns if not c.nullable]]
    )
    for name in required:
        if name not in declared:
            raw = F.col(f"{RAW}.{name}")
            checks.append(
                CheckSpec(f"not_null_{name}", "not_null", "reject", raw.isNotNull(), F.lit(f"{name} is null"))
            )
    return checks
