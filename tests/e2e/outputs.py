"""Second readers for the e2e tests of output formats (tests/e2e/outputs.rs).

  same-rows LINES PARQUET...  the Parquet files, read by DuckDB and taken in
                              order, hold the rows of the JSON lines file: the
                              same fields and values, none lost, none added.
  ocsf-valid LINES            every line is a valid OCSF 1.5.0 Detection
                              Finding (the JSON Schema that ocsf-json-schema
                              generates from the OCSF schema).

Prints one line on success; on failure, the first difference, and exits 1.
"""

import datetime
import json
import sys

import duckdb


def fail(message):
    print(message, file=sys.stderr)
    sys.exit(1)


def lines(path):
    with open(path, encoding="utf-8") as file:
        return [json.loads(line) for line in file if line.strip()]


def parse_time(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def same(parquet, expected, where):
    """Whether a value read from Parquet stands for the JSON value."""
    if isinstance(parquet, datetime.datetime):
        if isinstance(expected, bool):
            fail(f"{where}: a time in Parquet, {expected!r} in the lines")
        if isinstance(expected, int):
            # OCSF times: milliseconds since the epoch.
            millis = round(parquet.timestamp() * 1000)
            if millis != expected:
                fail(f"{where}: {millis} ms in Parquet, {expected} in the lines")
            return
        if not isinstance(expected, str) or parse_time(expected) != parquet:
            fail(f"{where}: {parquet.isoformat()} in Parquet, {expected!r} in the lines")
        return
    if isinstance(parquet, str) and isinstance(expected, (dict, list)):
        # Objects whose keys vary by row are JSON text in Parquet.
        same(json.loads(parquet), expected, where)
        return
    if isinstance(parquet, dict):
        if not isinstance(expected, dict):
            fail(f"{where}: a struct in Parquet, {expected!r} in the lines")
        lost = set(expected) - set(parquet)
        if lost:
            fail(f"{where}: {sorted(lost)} are in the lines, not in Parquet")
        for key, value in parquet.items():
            if key in expected:
                same(value, expected[key], f"{where}.{key}")
            elif value is not None:
                fail(f"{where}.{key}: {value!r} in Parquet, absent from the lines")
        return
    if isinstance(parquet, list):
        if not isinstance(expected, list) or len(parquet) != len(expected):
            fail(f"{where}: {parquet!r} in Parquet, {expected!r} in the lines")
        for index, (value, wanted) in enumerate(zip(parquet, expected)):
            same(value, wanted, f"{where}[{index}]")
        return
    if parquet != expected or type(parquet) is not type(expected):
        if isinstance(parquet, float) and isinstance(expected, int) and parquet == expected:
            return
        fail(f"{where}: {parquet!r} in Parquet, {expected!r} in the lines")


def same_rows(lines_path, parquet_paths):
    expected = lines(lines_path)
    connection = duckdb.connect()
    rows = []
    for path in parquet_paths:
        cursor = connection.execute("SELECT * FROM read_parquet(?, hive_partitioning = false)", [path])
        names = [column[0] for column in cursor.description]
        rows.extend(dict(zip(names, row)) for row in cursor.fetchall())
    if len(rows) != len(expected):
        fail(f"{len(rows)} rows in Parquet, {len(expected)} lines")
    for number, (row, line) in enumerate(zip(rows, expected), start=1):
        same(row, line, f"row {number}")
    print(f"{len(rows)} rows equal")


def ocsf_valid(lines_path):
    import jsonschema
    from ocsf_json_schema import OcsfJsonSchemaEmbedded, get_ocsf_schema

    ocsf = OcsfJsonSchemaEmbedded(get_ocsf_schema(version="1.5.0"))
    schema = ocsf.get_class_schema(class_name="detection_finding", profiles=[])
    validator = jsonschema.Draft202012Validator(schema)
    findings = lines(lines_path)
    for number, finding in enumerate(findings, start=1):
        errors = sorted(validator.iter_errors(finding), key=str)
        if errors:
            error = errors[0]
            path = "/".join(str(part) for part in error.absolute_path)
            fail(f"line {number}: {path}: {error.message}")
    print(f"{len(findings)} findings valid")


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "same-rows":
        same_rows(sys.argv[2], sys.argv[3:])
    elif len(sys.argv) == 3 and sys.argv[1] == "ocsf-valid":
        ocsf_valid(sys.argv[2])
    else:
        fail(__doc__)


if __name__ == "__main__":
    main()
