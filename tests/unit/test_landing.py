"""Landing files: discovery up to as_of, header matching under the schema drift policy, and typed reading that
loses no malformed value."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from paylake.bronze.discovery import discover_files
from paylake.bronze.landing import file_layout, one_line_records, parse_checks, read_landing, typed_rows
from paylake.config.bronze import BronzeTableConfig
from paylake.errors import IngestionError, StorageError
from paylake.quality.checks import apply_checks

CONFIG = BronzeTableConfig.model_validate(
    {
        "table": "things",
        "load_type": "incremental",
        "primary_key": ["id"],
        "sequence_column": "updated_at",
        "columns": [
            {"name": "id", "type": "string"},
            {"name": "amount", "type": "decimal(10,2)"},
            {"name": "day", "type": "date"},
            {"name": "flag", "type": "boolean"},
            {"name": "updated_at", "type": "timestamp"},
        ],
        "scd": {"compare_columns": ["amount"]},
    }
)
HEADER = "id,amount,day,flag,updated_at\n"


def write(folder: Path, name: str, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(body, encoding="utf-8")
    return path


def test_discovery_orders_by_date_stops_at_as_of_and_ignores_strangers(tmp_path: Path) -> None:
    folder = tmp_path / "things"
    for name in ["things_20260103.csv", "things_20260101.csv", "things_20260105.csv", "notes.txt", "things_2026.csv"]:
        write(folder, name, HEADER)
    found = discover_files(str(tmp_path), CONFIG, date(2026, 1, 4))
    assert [(f.name, f.extract_date) for f in found] == [
        ("things_20260101.csv", date(2026, 1, 1)),
        ("things_20260103.csv", date(2026, 1, 3)),
    ]


def test_a_corrected_delivery_is_a_later_revision_of_its_extract_date(tmp_path: Path) -> None:
    folder = tmp_path / "things"
    names = ["things_20260103_v10.csv", "things_20260103.csv", "things_20260103_v2.csv", "things_20260101.csv"]
    for name in [*names, "things_20260103_v1.csv", "things_20260103_v0.csv", "things_20260103_v2.csv.bak"]:
        write(folder, name, HEADER)
    found = discover_files(str(tmp_path), CONFIG, date(2026, 1, 4))
    assert [(f.name, f.extract_date, f.revision) for f in found] == [
        ("things_20260101.csv", date(2026, 1, 1), 1),
        ("things_20260103.csv", date(2026, 1, 3), 1),
        ("things_20260103_v2.csv", date(2026, 1, 3), 2),
        ("things_20260103_v10.csv", date(2026, 1, 3), 10),
    ]


def test_a_landing_root_that_does_not_exist_is_an_error_not_a_day_without_files(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "dir"
    with pytest.raises(StorageError, match=f"{missing}: folder does not exist"):
        discover_files(str(missing), CONFIG, date(2026, 1, 4))
    tmp_path.joinpath("other").mkdir()
    assert discover_files(str(tmp_path), CONFIG, date(2026, 1, 4)) == []  # a feed that has not arrived: no files


@pytest.mark.parametrize(
    ("header", "policy", "message"),
    [
        ("id,amount,day,flag\n", "rescue", r"lacks required column\(s\) \['updated_at'\]"),
        ("id;amount;day;flag;updated_at\n", "rescue", r"looks delimited by ';'"),
        ("id,amount,day,flag,updated_at,extra\n", "fail", r"undeclared column\(s\) \['extra'\].*on_new_columns: fail"),
        ("id,amount,,flag,updated_at\n", "rescue", r"blank column name at position\(s\) \[3\]"),
        ("id,amount,day,day,updated_at\n", "rescue", r"repeated column\(s\) \['day'\]"),
        ("", "rescue", "empty file, expected a header row"),
    ],
)
def test_an_unusable_header_is_a_batch_error_naming_the_file_and_columns(
    tmp_path: Path, header: str, policy: str, message: str
) -> None:
    path = write(tmp_path / "things", "things_20260101.csv", header)
    config = CONFIG.model_copy(update={"on_new_columns": policy})
    (file,) = discover_files(str(tmp_path), config, date(2026, 1, 1))
    with pytest.raises(IngestionError, match=message) as error:
        file_layout(file, config)
    assert str(path) in str(error.value)


def test_headers_match_by_name_in_any_order_with_bom_and_crlf(tmp_path: Path) -> None:
    write(tmp_path / "things", "things_20260101.csv", "\ufeff" + "updated_at,id,flag,extra,day\r\n")
    (file,) = discover_files(str(tmp_path), CONFIG, date(2026, 1, 1))
    layout = file_layout(file, CONFIG)
    assert layout.header == ("updated_at", "id", "flag", "extra", "day")
    assert (layout.missing, layout.extra) == (("amount",), ("extra",))


def test_drifted_files_are_read_by_name_and_undeclared_values_rescued(spark: SparkSession, tmp_path: Path) -> None:
    folder = tmp_path / "things"
    write(folder, "things_20260101.csv", HEADER + "a,1.00,2026-01-01,true,2026-01-01 10:00:00\n")
    write(
        folder,
        "things_20260102.csv",
        "updated_at,note,id,day,flag,source\n"
        '2026-01-02 10:00:00,"hi, there",b,2026-01-02,false,crm\n'
        "2026-01-02 11:00:00,,c,2026-01-02,true,\n",
    )
    files = discover_files(str(tmp_path), CONFIG, date(2026, 1, 2))
    rows = {r.id: r for r in typed_rows(read_landing(spark, files, CONFIG), CONFIG).collect()}
    assert str(rows["a"].amount) == "1.00" and rows["a"]._rescued_data is None
    assert rows["b"].amount is None and rows["b"].day == date(2026, 1, 2) and rows["b"].flag is False
    assert json.loads(rows["b"]._rescued_data) == {"note": "hi, there", "source": "crm"}
    assert rows["c"]._rescued_data is None  # undeclared columns present but empty: nothing to rescue
    assert (rows["b"]._source_row, rows["c"]._source_row, rows["c"]._extract_date) == (1, 2, date(2026, 1, 2))

    ignoring = CONFIG.model_copy(update={"on_new_columns": "ignore"})
    assert "_rescued_data" not in typed_rows(read_landing(spark, files, ignoring), ignoring).columns


def test_typed_reading_keeps_raw_values_and_rejects_each_malformed_one(spark: SparkSession, tmp_path: Path) -> None:
    body = (
        HEADER
        + "\n".join(
            [
                "a,10.50,2026-01-01,true,2026-01-01 10:00:00",
                'b,"1,234.50",2026-01-01,true,2026-01-01 10:00:00',
                "c,3,2026/13/45,maybe,2026-01-01T10:00:00",
                "d,4,2026,false,yesterday",
                "e,5,2026-01-02",
                ",6,2026-01-02,false,2026-01-01 10:00:00",
            ]
        )
        + "\n"
    )
    write(tmp_path / "things", "things_20260101.csv", body)
    files = discover_files(str(tmp_path), CONFIG, date(2026, 1, 1))
    typed = typed_rows(read_landing(spark, files, CONFIG), CONFIG)
    checked = apply_checks(typed, parse_checks(CONFIG))
    result = {r._raw.id or f"row{r._source_row}": (r._dq_rejects, r._raw.amount) for r in checked.collect()}
    assert result == {
        "a": ([], "10.50"),
        "b": (["malformed_amount"], "1,234.50"),
        "c": (["malformed_day", "malformed_flag"], "3"),
        "d": (["malformed_day", "malformed_updated_at"], "4"),
        "e": (["malformed_row", "not_null_updated_at"], "5"),
        "row6": (["not_null_id"], "6"),
    }
    a = checked.where("id = 'a'").first()
    assert a is not None and str(a.amount) == "10.50" and a.day == date(2026, 1, 1) and a.flag is True
    assert a._source_file == "things_20260101.csv" and a._extract_date == date(2026, 1, 1)
    assert sorted(r._source_row for r in checked.collect()) == [1, 2, 3, 4, 5, 6]


@pytest.mark.parametrize(("tolerance", "rejected"), [(0, ["c", "d", "e"]), (2, ["d", "e"])])
def test_a_sequence_value_after_its_files_extract_date_is_rejected(
    spark: SparkSession, tmp_path: Path, tolerance: int, rejected: list[str]
) -> None:
    rows = [
        ("a", "2026-01-01 23:59:59"),  # the last second of the extract date
        ("b", "2025-12-31 10:00:00"),
        ("c", "2026-01-02 00:00:00"),  # the next day: inside a 2-hour tolerance
        ("d", "2026-01-02 02:00:00"),
        ("e", "9999-12-31 23:59:59"),
    ]
    write(tmp_path / "things", "things_20260101.csv", HEADER + "".join(f"{k},1,,,{at}\n" for k, at in rows))
    options = CONFIG.source.options.model_copy(update={"sequence_tolerance_hours": tolerance})
    config = CONFIG.model_copy(update={"source": CONFIG.source.model_copy(update={"options": options})})
    files = discover_files(str(tmp_path), config, date(2026, 1, 1))
    checked = apply_checks(typed_rows(read_landing(spark, files, config), config), parse_checks(config))
    verdicts = {r.id: (r._dq_rejects, r._dq_reasons) for r in checked.collect()}
    assert sorted(k for k, (rules, _) in verdicts.items() if rules) == rejected
    assert all(rules == ["future_updated_at"] for k, (rules, _) in verdicts.items() if k in rejected)
    suffix = f" (tolerance {tolerance} h)" if tolerance else ""
    assert verdicts["e"][1] == [
        f"future_updated_at: updated_at='9999-12-31 23:59:59' is after the file's extract date 2026-01-01{suffix}"
    ]


def test_quoted_delimiters_and_embedded_newlines_stay_in_one_field(spark: SparkSession, tmp_path: Path) -> None:
    write(
        tmp_path / "things",
        "things_20260101.csv",
        HEADER + 'x,"1",2026-01-01,true,2026-01-01 10:00:00\n"y\nz",2,2026-01-01,true,2026-01-01 10:00:00\n',
    )
    files = discover_files(str(tmp_path), CONFIG, date(2026, 1, 1))
    ids = sorted(r.id for r in typed_rows(read_landing(spark, files, CONFIG), CONFIG).collect())
    assert ids == ["x", "y\nz"]


@pytest.mark.parametrize(
    ("body", "one_line"),
    [
        (HEADER + 'a,1.00,2026-01-01,true,"2026-01-01 10:00:00"\r\nb,"2,5",,,\r\n', True),
        (HEADER + 'a,"say ""hi""",,,\n', True),
        (HEADER + 'a,"two\nlines",,,\n', False),
        (HEADER + "a,bare\rcr,,,\n", False),
        (HEADER + 'a,"unclosed,,,\n', False),
    ],
)
def test_a_file_is_split_between_lines_only_when_no_record_spans_lines(
    tmp_path: Path, body: str, one_line: bool
) -> None:
    path = write(tmp_path, "things_20260101.csv", body)
    assert one_line_records(str(path), CONFIG.source.options) is one_line
    assert one_line_records("s3://bucket/things_20260101.csv", CONFIG.source.options) is False  # never scanned


@pytest.mark.parametrize("quoted_newline", [False, True])
def test_rows_are_numbered_in_file_order_across_spark_blocks(
    spark: SparkSession, tmp_path: Path, quoted_newline: bool
) -> None:
    note = '"x\ny"' if quoted_newline else "x"
    lines = [f"id{n:04d},{n}.00,2026-01-01,{note},2026-01-01 10:00:00" for n in range(1, 401)]
    folder = tmp_path / "things"
    write(folder, "things_20260101.csv", HEADER + "\n".join(lines) + "\n")
    write(folder, "things_20260102.csv", HEADER + "\n".join(lines[:150]) + "\n")
    files = discover_files(str(tmp_path), CONFIG, date(2026, 1, 2))
    previous = spark.conf.get("spark.sql.files.maxPartitionBytes")
    spark.conf.set("spark.sql.files.maxPartitionBytes", "2048")  # many blocks per file, several files per task
    try:
        raw = read_landing(spark, files, CONFIG)
        blocks = raw.select("_source_file").rdd.getNumPartitions()
        rows = [(r._source_file, r._source_row, r.id) for r in raw.collect()]
    finally:
        spark.conf.set("spark.sql.files.maxPartitionBytes", previous)
    assert blocks > 1 or quoted_newline  # a file with a record across lines is read whole
    expected = [("things_20260101.csv", n, f"id{n:04d}") for n in range(1, 401)]
    expected += [("things_20260102.csv", n, f"id{n:04d}") for n in range(1, 151)]
    assert sorted(rows) == expected
