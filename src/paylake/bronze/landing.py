"""Landing files of a bronze table: header checks and typed reading (discovery is :mod:`paylake.bronze.discovery`).

Files are read as strings first so a malformed value is never lost: ``_raw`` keeps every value as delivered,
typed columns are derived with ``try_cast`` and a failed cast becomes a ``malformed_<column>`` rejection.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import reduce
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from paylake.bronze.discovery import LandingFile
from paylake.config.bronze import BronzeTableConfig, CsvOptions
from paylake.contract import EXTRACT_DATE, RESCUED, SOURCE_FILE, SOURCE_ROW
from paylake.errors import IngestionError
from paylake.quality.checks import CheckSpec

logger = logging.getLogger(__name__)

RAW, CORRUPT = "_raw", "_corrupt_record"
HEADER_BYTES = 1 << 20  # a header row longer than this (1 MiB: 10,000 names of 100 characters) is not a header
_COMPRESSED = {b"\x1f\x8b": "gzip", b"PK\x03\x04": "zip"}  # magic bytes no CSV text starts with
_DATE_TEXT = r"^\d{4}-\d{2}-\d{2}$"
_TIMESTAMP_TEXT = r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?(Z|[+-]\d{2}:?\d{2})?$"


@dataclass(frozen=True)
class FileLayout:
    """How one file's header maps onto its table: the file's columns in file order, the declared columns it
    lacks (null for its rows) and the undeclared ones it adds (rescued, ignored or refused by policy)."""

    header: tuple[str, ...]
    missing: tuple[str, ...]
    extra: tuple[str, ...]


def read_header(file: LandingFile, config: BronzeTableConfig) -> list[str]:
    """The column names in a file's header row (a UTF-8 BOM and CRLF are accepted).

    Raises:
        IngestionError: the file is empty or its header row is not one.
    """
    options = config.source.options
    start = file.objects.read_bytes(file.path, limit=HEADER_BYTES)
    kind = next((name for magic, name in _COMPRESSED.items() if start.startswith(magic)), None)
    if kind:
        raise IngestionError(f"{file.path}: the file is {kind}-compressed, not CSV text; deliver it uncompressed")
    first = start.split(b"\n", 1)[0]
    if len(first) == HEADER_BYTES:
        raise IngestionError(f"{file.path}: the header row is longer than {HEADER_BYTES:,} bytes; not a header")
    if start.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in first:  # a UTF-16 BOM, or its zero bytes
        raise IngestionError(f"{file.path}: the file is UTF-16 (or binary), not UTF-8 text; deliver it as UTF-8")
    if b"\r" in first.rstrip(b"\r"):
        raise IngestionError(f"{file.path}: lines end in a bare carriage return (CR); deliver LF or CRLF line endings")
    text = first.decode("utf-8", errors="replace").lstrip("\ufeff").rstrip("\r\n")
    if not text:
        raise IngestionError(f"{file.path}: empty file, expected a header row")
    return next(csv.reader(io.StringIO(text), delimiter=options.delimiter, quotechar=options.quote))


def _names(names: Sequence[str], shown: int = 20) -> str:
    """Column names for a message: the first ``shown`` of them, and how many more (a header may have thousands)."""
    more = len(names) - shown
    return f"{list(names[:shown])}" + (f" and {more:,} more" if more > 0 else "")


def _delimiter_hint(header: Sequence[str], config: BronzeTableConfig) -> str:
    if len(header) != 1:
        return ""
    for candidate in ";|\t,":
        if candidate != config.source.options.delimiter and candidate in header[0]:
            return (
                f" (the header looks delimited by {candidate!r}, the metadata says {config.source.options.delimiter!r})"
            )
    return ""


def file_layout(file: LandingFile, config: BronzeTableConfig) -> FileLayout:
    """Match a file's header to the declared columns by name, under the table's schema drift policy.

    Raises:
        IngestionError: names the file and the columns: a header with blank or repeated names, a required column
            missing, or undeclared columns under ``on_new_columns: fail``.
    """
    header = read_header(file, config)
    blank = [index + 1 for index, name in enumerate(header) if not name.strip()]
    folded = [name.casefold() for name in header]  # Spark resolves column names regardless of case
    repeated = sorted({name for name in header if folded.count(name.casefold()) > 1})
    if blank or repeated:
        detail = f"blank column name at position(s) {blank}" if blank else f"repeated column(s) {repeated}"
        raise IngestionError(f"{file.path}: header is not usable: {detail}")
    declared = config.column_names
    missing = tuple(c for c in declared if c not in header)
    extra = tuple(c for c in header if c not in declared)
    required = [c for c in missing if c in config.required_columns]
    if required:
        raise IngestionError(
            f"{file.path}: header lacks required column(s) {required} of bronze/{config.table}"
            f"{_delimiter_hint(header, config)}; found {_names(header)}"
        )
    if extra and config.on_new_columns == "fail":
        raise IngestionError(
            f"{file.path}: undeclared column(s) {_names(extra)} and bronze/{config.table} has on_new_columns: fail; "
            "declare them in the metadata or change the policy"
        )
    if missing:
        logger.warning("%s: no column(s) %s; loaded as null", file.path, list(missing))
    if extra:
        what = "kept in _rescued_data" if config.on_new_columns == "rescue" else "ignored (on_new_columns: ignore)"
        logger.warning("%s: undeclared column(s) %s %s", file.path, _names(extra), what)
    return FileLayout(tuple(header), missing, extra)


def _quoted(name: str) -> Column:
    return F.col("`" + name.replace("`", "``") + "`")


def one_line_records(path: str, options: CsvOptions) -> bool:
    """True when every CSV record of the local file at ``path`` is one physical line, so Spark may split the file
    between lines and parse the parts in parallel: no bare CR (Spark keeps one inside a value) and no quoted value
    across lines (each line holds an even number of quote characters; with an escape other than the quote, no
    escape character at all). Remote files are not scanned and count as multi-line."""
    if "://" in path:
        return False
    quote, escape = options.quote.encode(), options.escape.encode()
    carry = b""
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 24), b""):
            data = carry + block
            end = data.rfind(b"\n") + 1  # whole lines only; the rest waits for the next block
            lines, carry = data[:end], data[end:]
            if not _lines_are_records(lines, quote, escape):
                return False
    return _lines_are_records(carry, quote, escape)


def _lines_are_records(data: bytes, quote: bytes, escape: bytes) -> bool:
    if data.count(b"\r") != data.count(b"\r\n") or (escape != quote and escape in data):
        return False
    at = data.find(quote)
    while at != -1:
        start, end = data.rfind(b"\n", 0, at) + 1, data.find(b"\n", at)
        end = len(data) if end == -1 else end
        if data.count(quote, start, end) % 2:
            return False
        at = data.find(quote, end)
    return True


def read_failure(exc: Exception, paths: Sequence[str], options: CsvOptions) -> Exception:
    """The error to raise for a failed read of landing files: an :class:`IngestionError` naming the file and the
    cause when the CSV reader refused a file, else ``exc`` itself."""
    text = str(exc)
    if "FAILED_READ_FILE" not in text and "TextParsingException" not in text:
        return exc
    named = [path for path in paths if Path(path).name in text]
    where = named[0] if named else ", ".join(paths)
    if f"out of bounds for length {options.max_fields}" in text:
        return IngestionError(
            f"{where}: a record has more than max_fields {options.max_fields} fields (source.options.max_fields), "
            "so the CSV reader cannot go on; fix the file, set it aside with `paylake skip`, or raise the limit"
        )
    causes = [line.split(":", 1)[-1].strip() for line in text.splitlines() if line.startswith("Caused by:")]
    return IngestionError(f"{where}: the CSV reader failed: {(causes[-1] if causes else text.splitlines()[0])[:300]}")


def _read_group(
    spark: SparkSession, paths: Sequence[str], layout: FileLayout, config: BronzeTableConfig, multiline: bool
) -> DataFrame:
    """Files sharing one header, read as strings and brought to the table's columns.

    ``_source_row`` is numbered without a sort: Spark reads a file in blocks (one per task when it can split the
    file between lines), each block's rows are consecutive in ``monotonically_increasing_id``, so a small count of
    rows per block gives every block's first row number.
    """
    options = config.source.options
    schema = StructType(
        [StructField(name, StringType()) for name in layout.header] + [StructField(CORRUPT, StringType())]
    )
    raw = spark.read.csv(
        list(paths),
        schema=schema,
        header=True,
        mode="PERMISSIVE",
        columnNameOfCorruptRecord=CORRUPT,
        sep=options.delimiter,
        quote=options.quote,
        escape=options.escape,
        encoding=options.encoding,
        nullValue=options.null_value,
        multiLine=multiline,
        maxColumns=options.max_fields,
    ).select(
        "*",
        F.col("_metadata.file_name").alias(SOURCE_FILE),
        F.col("_metadata.file_block_start").alias("_block"),
        F.monotonically_increasing_id().alias("_mid"),
    )
    blocks = raw.groupBy(SOURCE_FILE, "_block").agg(F.min("_mid").alias("first"), F.count(F.lit(1)).alias("rows"))
    try:
        counted = blocks.collect()  # the first read of the files
    except Exception as exc:
        raise read_failure(exc, paths, options) from exc
    shift, before, previous_file = {}, 0, None
    for block in sorted(counted, key=lambda b: (b[SOURCE_FILE], b["_block"])):
        before = 0 if block[SOURCE_FILE] != previous_file else before
        shift[(block[SOURCE_FILE], block["_block"])] = before + 1 - block["first"]
        before, previous_file = before + block["rows"], block[SOURCE_FILE]
    shifts = F.create_map(*[F.lit(x) for (file, start), value in shift.items() for x in (f"{file}/{start}", value)])
    at = F.concat_ws("/", SOURCE_FILE, F.col("_block").cast("string"))
    row = F.col("_mid") + shifts[at] if shift else F.lit(None)  # no rows, nothing to number

    columns = [
        (F.lit(None).cast("string") if name in layout.missing else _quoted(name)).alias(name)
        for name in config.column_names
    ]
    if config.on_new_columns == "rescue":
        rescued = F.lit(None).cast("string")
        if layout.extra:
            text = F.to_json(F.struct(*[_quoted(name).alias(name) for name in layout.extra]))
            rescued = F.when(text != "{}", text)  # all extra values null: nothing rescued
        columns.append(rescued.alias(RESCUED))
    return raw.select(*columns, CORRUPT, SOURCE_FILE, row.cast("int").alias(SOURCE_ROW))


def read_landing(
    spark: SparkSession,
    files: Sequence[LandingFile],
    config: BronzeTableConfig,
    staging: Path | None = None,
    layouts: Sequence[FileLayout] | None = None,
) -> DataFrame:
    """Read landing files as strings: the declared columns (by header name, in metadata order), ``_rescued_data``
    under ``on_new_columns: rescue``, ``_corrupt_record``, ``_source_file``, ``_source_row``, ``_extract_date``.

    Files are read in groups of equal headers (one group on a normal day), and apart when a file has records
    across lines (:func:`one_line_records`), which Spark must read whole. With ``staging``, each file is first
    copied there (same base name) and Spark reads the copy. ``layouts`` are the files' :func:`file_layout`
    results, computed here when not given.
    """
    layouts = layouts if layouts is not None else [file_layout(f, config) for f in files]
    groups: dict[tuple[FileLayout, bool], list[str]] = {}
    for file, layout in zip(files, layouts, strict=True):
        path = file.objects.local_copy(file.path, staging) if staging else file.path
        groups.setdefault((layout, not one_line_records(path, config.source.options)), []).append(path)
    parts = [_read_group(spark, paths, layout, config, multiline) for (layout, multiline), paths in groups.items()]
    dates = F.create_map(*[x for f in files for x in (F.lit(f.name), F.lit(f.extract_date))])
    return reduce(DataFrame.unionByName, parts).withColumn(EXTRACT_DATE, dates[F.col(SOURCE_FILE)])


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
    """Typed columns plus ``_raw`` (a struct of the delivered strings), ``_rescued_data`` when the table rescues
    undeclared columns, and the source bookkeeping columns."""
    names = config.column_names
    rescued = [RESCUED] if RESCUED in raw.columns else []
    return raw.select(
        *[_typed(c.name, c.type).alias(c.name) for c in config.columns],
        F.struct(*[F.col(n) for n in names]).alias(RAW),
        *rescued,
        CORRUPT,
        SOURCE_FILE,
        SOURCE_ROW,
        EXTRACT_DATE,
    )


def parse_checks(config: BronzeTableConfig) -> list[CheckSpec]:
    """Built-in reject rules every bronze table gets before its declared rules.

    ``malformed_row`` (not as many fields as the header), ``invalid_utf8`` (bytes that are not UTF-8, read as
    U+FFFD), ``oversized_field`` (a value longer than ``source.options.max_field_chars``), ``malformed_<column>``
    (a value that is not of the declared type), ``future_<sequence column>`` (:func:`future_sequence_check`) and
    ``not_null_<column>`` for key, sequence and ``nullable: false`` columns unless declared already.
    """
    delivered = [F.col(f"{RAW}.{name}") for name in config.column_names]
    if config.on_new_columns == "rescue":
        delivered.append(F.col(RESCUED))
    text = F.concat_ws("\u0001", *delivered)
    limit = config.source.options.max_field_chars
    longest = F.greatest(*[F.coalesce(F.length(c), F.lit(0)) for c in delivered], F.lit(0))
    checks = [
        CheckSpec(
            "malformed_row",
            "parse",
            "reject",
            F.col(CORRUPT).isNull(),
            F.concat(F.lit("row does not have as many fields as the header: "), F.substring(CORRUPT, 1, 200)),
        ),
        CheckSpec(
            "invalid_utf8",
            "parse",
            "reject",
            ~text.contains("\ufffd"),
            F.lit("row has bytes that are not valid UTF-8 (read as U+FFFD); the file keeps the original bytes"),
        ),
        CheckSpec(
            "oversized_field",
            "parse",
            "reject",
            longest <= limit,
            F.concat(
                F.lit("a value of "), longest.cast("string"), F.lit(f" characters exceeds max_field_chars {limit}")
            ),
        ),
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
    checks.append(future_sequence_check(config.sequence_column, config.source.options.sequence_tolerance_hours))
    declared = {r.column for r in config.quality.rules if r.type == "not_null"}
    for name in config.required_columns:
        if name not in declared:
            raw = F.col(f"{RAW}.{name}")
            checks.append(
                CheckSpec(f"not_null_{name}", "not_null", "reject", raw.isNotNull(), F.lit(f"{name} is null"))
            )
    return checks


def future_sequence_check(sequence_column: str, tolerance_hours: int = 0) -> CheckSpec:
    """Reject a row whose sequence value lies over ``tolerance_hours`` after its file's extract date (session time
    zone): an extract holds no later change, and a version dated ``9999-12-31`` would stay current for good."""
    sequence = F.col(sequence_column)
    latest = F.to_timestamp(F.date_add(F.col(EXTRACT_DATE), 1)) + F.expr(f"INTERVAL {tolerance_hours} HOURS")
    return CheckSpec(
        f"future_{sequence_column}",
        "parse",
        "reject",
        sequence.isNull() | (sequence.cast("timestamp") < latest),
        F.concat(
            F.lit(f"{sequence_column}='"),
            sequence.cast("string"),
            F.lit("' is after the file's extract date "),
            F.col(EXTRACT_DATE).cast("string"),
            F.lit(f" (tolerance {tolerance_hours} h)" if tolerance_hours else ""),
        ),
    )
