#!/usr/bin/env python3
"""Runs asim-rules rule components from Python, with the `wasmtime` package.

    python asim_host.py [--param RULE.NAME=VALUE]... AT INDICATORS.jsonl SESSIONS.jsonl RULE.wasm...

Loads each rule component, feeds it the indicator and session rows its windows
at AT want (ASIM / Sentinel JSON lines), evaluates it once at AT and prints the
alerts as JSON lines, the records `asim-rules run` prints. A rule written in
Python imports WASI; it gets WASI with nothing behind it, and what it prints
is reported on stderr. docs/CONTRACT.md is the recipe this follows, step by step.
"""

import argparse
import ipaddress
import itertools
import json
import re
import sys
from datetime import datetime, timedelta, timezone

import wasmtime
from wasmtime.component import Component, Linker, Record, Variant

INTERFACE = "asim:rules/rule@0.1.0"
CALLS = ("metadata", "configure", "ingest-sessions", "ingest-indicators", "evaluate")
BATCH_ROWS = 65_536
# What a rule may print and the host keep, as asim-rules keeps (host/src/limits.rs).
RULE_LOG_BYTES = 64 << 10

# Column kinds (guest-rules/core/src/schema.rs); every other column is text.
# An address column refuses a text that is not an address; a network column
# also takes CIDR networks.
IP_ADDRESS = {"SrcIpAddr", "DstIpAddr", "DvcIpAddr", "SrcNatIpAddr", "DstNatIpAddr"}
IP_NETWORK = {"NetworkIP", "NetworkDestinationIP", "NetworkSourceIP",
              "EmailSourceIpAddress", "NetworkCidrBlock"}
INTEGER = {"SrcPortNumber", "DstPortNumber", "SrcNatPortNumber", "DstNatPortNumber",
           "EventCount", "NetworkBytes", "SrcBytes", "DstBytes", "NetworkPackets",
           "SrcPackets", "DstPackets", "NetworkDuration", "NetworkIcmpCode",
           "NetworkRuleNumber", "ThreatSeverity"}
REAL = {"ConfidenceScore"}
BOOLEAN = {"Active"}
TIME = {"EventStartTime", "EventEndTime", "ExpirationDateTime"}
IP = IP_ADDRESS | IP_NETWORK
OPTIONAL = INTEGER | REAL | BOOLEAN | TIME

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MICROSECOND = timedelta(microseconds=1)
ISO_TIME = re.compile(
    r"(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}:\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:?\d{2})?")
IPV4_MAPPED = 0xFFFF << 32
NOT_AN_ADDRESS = 255


class RowError(ValueError):
    """A row that cannot be read; reported and skipped."""


def parse_time(text):
    """Microseconds since the epoch of an RFC 3339 / ISO 8601 time (no offset: UTC)."""
    match = ISO_TIME.fullmatch(text.strip())
    if not match:
        raise RowError(f"not a time: {text!r}")
    date, clock, fraction, offset = match.groups()
    zone = "+00:00" if offset in (None, "Z") else offset
    when = datetime.fromisoformat(f"{date}T{clock or '00:00:00'}{zone}")
    micros = int((fraction or "0")[:6].ljust(6, "0"))
    return (when - EPOCH) // MICROSECOND + micros


def format_time(micros):
    """RFC 3339 UTC with Z, with fractional seconds only when there are any."""
    when = EPOCH + micros * MICROSECOND
    text = when.strftime("%Y-%m-%dT%H:%M:%S")
    if micros % 1_000_000 == 0:
        return text + "Z"
    if micros % 1000 == 0:
        return f"{text}.{when.microsecond // 1000:03}Z"
    return f"{text}.{when.microsecond:06}Z"


def parse_ip(text, network):
    """(128-bit address, prefix length) of an address or, for a network column,
    a CIDR network; IPv4 mapped into IPv6, host bits cleared."""
    text = text.strip()
    try:
        if network and "/" in text:
            net = ipaddress.ip_network(text, strict=False)
            addr, length = net.network_address, net.prefixlen
        else:
            addr = ipaddress.ip_address(text)
            length = addr.max_prefixlen
        if addr.version == 6 and "%" in text:
            raise ValueError("zone ids are not addresses")
    except ValueError:
        kind = "an IP address or network" if network else "an IP address"
        raise RowError(f"not {kind}: {text!r}") from None
    if addr.version == 4:
        return IPV4_MAPPED | int(addr), length + 96
    return int(addr), length


def as_text(value):
    """A JSON value as the text `asim-rules` reads it from; None when absent."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


def cell(name, value, unparsable):
    """A typed cell of column `name`: text, (text, address, length), a number, a
    boolean or a time; None (or "" for text) when empty. A text that does not
    parse for its column is passed as unparsable (an IP that matches nothing,
    None otherwise) and counted in `unparsable` by column."""
    text = as_text(value)
    if text is None or not text.strip():
        return ("", 0, NOT_AN_ADDRESS) if name in IP else (None if name in OPTIONAL else "")
    try:
        return typed(name, text)
    except (RowError, ValueError):
        unparsable[name] = unparsable.get(name, 0) + 1
        return (text, 0, NOT_AN_ADDRESS) if name in IP else None


def typed(name, text):
    """The cell of a non-empty `text` in column `name`; RowError when it does not parse."""
    if name in IP:
        return (text, *parse_ip(text, name in IP_NETWORK))
    if name in INTEGER:
        try:
            return int(text.strip())
        except ValueError:
            number = float(text)
            if number.is_integer() and abs(number) < 9e15:
                return int(number)
            raise RowError(f"not a whole number: {text!r}") from None
    if name in REAL:
        return float(text)
    if name in BOOLEAN:
        flag = text.strip().lower()
        if flag not in ("true", "1", "false", "0"):
            raise RowError(f"not true or false: {text!r}")
        return flag in ("true", "1")
    if name in TIME:
        return parse_time(text)
    return text


def record(**fields):
    """A WIT record: field names in kebab case, as the component declares them."""
    value = Record()
    for name, field in fields.items():
        setattr(value, name.replace("_", "-"), field)
    return value


def dictionary(texts):
    """Distinct texts in order of first appearance, concatenated, their ends, row codes."""
    codes_of = {}
    codes = [codes_of.setdefault(text, len(codes_of)) for text in texts]
    ends = list(itertools.accumulate(len(text.encode()) for text in codes_of))
    return "".join(codes_of), ends, codes


def column_values(name, cells):
    if name in IP:
        parsed = {text: (addr, length) for text, addr, length in cells}
        strings, ends, codes = dictionary(text for text, _, _ in cells)
        return Variant("ip", record(
            strings=strings, ends=ends, codes=codes,
            addr_hi=[parsed[text][0] >> 64 for text in parsed],
            addr_lo=[parsed[text][0] & (2**64 - 1) for text in parsed],
            prefix_len=bytes(parsed[text][1] for text in parsed)))
    for kinds, tag in ((INTEGER, "integer"), (REAL, "real"), (BOOLEAN, "boolean"), (TIME, "time")):
        if name in kinds:
            return Variant(tag, cells)
    strings, ends, codes = dictionary(cells)
    return Variant("text", record(strings=strings, ends=ends, codes=codes))


def batch(columns, rows):
    """A WIT batch of `rows` (time, {column: cell}) with `columns`, in that order."""
    return record(time_generated=[time for time, _ in rows],
                  columns=[record(name=name, values=column_values(name, [cells[name] for _, cells in rows]))
                           for name in columns])


def read_rows(path, columns):
    """(TimeGenerated, {column: cell}) of every readable row of a JSON lines file;
    a row that is no JSON object or has no time is reported on stderr with its
    file and line, and skipped; cells that do not parse are counted by column."""
    unparsable = {}
    yield from read_lines(path, columns, unparsable)
    if unparsable:
        counts = ", ".join(f"{name} {count}" for name, count in sorted(unparsable.items()))
        print(f"{path}: cells that do not parse, passed to the rules as unparsable: {counts}",
              file=sys.stderr)


def read_lines(path, columns, unparsable):
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                if not isinstance(row, dict):
                    raise RowError("not a JSON object")
                time = as_text(row.get("TimeGenerated"))
                if time is None:
                    raise RowError("TimeGenerated: missing")
                yield parse_time(time), {name: cell(name, row.get(name), unparsable) for name in columns}
            except (RowError, ValueError) as error:
                print(f"{path}:{number}: row skipped: {error}", file=sys.stderr)


class RuleError(RuntimeError):
    """The rule refused a call (its err(message))."""


class RuleLog:
    """What a rule wrote to stdout and stderr: the first RULE_LOG_BYTES kept,
    the rest counted. A write never fails, so printing cannot break a rule."""

    def __init__(self):
        self.kept = bytearray()
        self.dropped = 0

    def write(self, data):
        room = RULE_LOG_BYTES - len(self.kept)
        self.kept += data[:room]
        self.dropped += max(0, len(data) - room)
        return len(data)


def capability_free_wasi(log):
    """WASI for a rule that imports it (one built by componentize-py), as
    asim-rules gives it: no preopened directories, no environment or
    arguments, no stdin, and no network (wasmtime's WASI grants no address
    and no name lookup unless asked); stdout and stderr into `log`.
    Unlike asim-rules, wasmtime-py cannot freeze the clocks at the
    evaluation's time or seed the random numbers: a rule that reads either
    may answer differently here (docs/CONTRACT.md)."""
    wasi = wasmtime.WasiConfig()
    wasi.stdout_custom = log.write
    wasi.stderr_custom = log.write
    return wasi


class Rule:
    """One deployment of a rule component: its own store and instance."""

    def __init__(self, engine, path):
        component = Component.from_file(engine, path)
        self.store = wasmtime.Store(engine)
        self.log = RuleLog()
        self.store.set_wasi(capability_free_wasi(self.log))
        # WASI 0.2 is all the linker defines: a rule component imports nothing
        # else, and a component that does is refused when instantiated.
        linker = Linker(engine)
        linker.add_wasip2()
        instance = linker.instantiate(self.store, component)
        interface = instance.get_export_index(self.store, INTERFACE)
        if interface is None:
            raise SystemExit(f"{path}: does not implement {INTERFACE}")
        self.functions = {
            name: instance.get_func(self.store, instance.get_export_index(self.store, name, interface))
            for name in CALLS}
        self.path = path

    def call(self, name, *args):
        function = self.functions[name]
        result = function(self.store, *args)
        function.post_return(self.store)
        # A result<T, string> comes back as T, or as the message when it erred.
        if isinstance(result, str):
            raise RuleError(f"{self.path}: {name}: {result}")
        return result


def windows(metadata, at):
    """(call, columns, first time in, whether `at` itself is in) of each table it reads."""
    yield "ingest-sessions", metadata["session-columns"], at - metadata["session-lookback"], False
    if metadata["indicator-lookback"] is not None:
        yield ("ingest-indicators", metadata["indicator-columns"],
               at - metadata["indicator-lookback"], True)


def detail(value):
    if value.tag == "time":
        return format_time(value.payload)
    # A whole real prints as Kusto prints it: 80, not 80.0.
    if value.tag == "real" and value.payload.is_integer() and abs(value.payload) < 2**53:
        return int(value.payload)
    return value.payload


def alert_record(metadata, at, alert):
    return {
        "RuleId": metadata["id"], "RuleName": metadata["name"], "RuleVersion": metadata["version"],
        "AlertName": alert.name, "Description": alert.description,
        "Severity": metadata["severity"].capitalize(),
        "Tactics": metadata["tactics"], "Techniques": metadata["techniques"],
        "StartTime": format_time(alert.__dict__["start-time"]),
        "EndTime": format_time(alert.__dict__["end-time"]),
        "EvaluatedAt": format_time(at),
        "Entities": [{"Type": entity.kind, **dict(entity.properties)} for entity in alert.entities],
        "CustomDetails": {name: detail(value) for name, value in alert.__dict__["custom-details"]},
        "Tenant": "default",
    }


def parameters_of(metadata, params):
    """The (name, value) pairs of `--param RULE.NAME=VALUE` that name this
    rule by short name or id."""
    return [(name, value) for rule, name, value in params
            if rule in (metadata["short-name"], metadata["id"])]


def param(text):
    target, equals, value = text.partition("=")
    rule, dot, name = target.partition(".")
    if not (equals and dot and rule and name):
        raise argparse.ArgumentTypeError(f"{text!r} is not RULE.NAME=VALUE")
    return rule, name, value


def printable(line):
    """`line` with what would not print escaped, as Python writes it in a literal."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in line)


def report_log(rule, metadata):
    """What the rule printed, on stderr, as `asim-rules run --verbose` shows it."""
    log, name = rule.log, metadata["short-name"]
    if not log.kept and not log.dropped:
        return
    dropped = (f" ({log.dropped} more dropped: a rule's log keeps {RULE_LOG_BYTES >> 10} KiB)"
               if log.dropped else "")
    print(f"{name} printed {len(log.kept)} bytes{dropped}:", file=sys.stderr)
    for line in log.kept.decode("utf-8", "replace").splitlines():
        print(f"{name}| {printable(line)}", file=sys.stderr)


def main(argv):
    parser = argparse.ArgumentParser(usage=__doc__.split("\n\n")[1].strip())
    parser.add_argument("--param", type=param, action="append", default=[])
    parser.add_argument("at")
    parser.add_argument("indicators")
    parser.add_argument("sessions")
    parser.add_argument("rules", nargs="+")
    args = parser.parse_args(argv)
    at, indicators, sessions = parse_time(args.at), args.indicators, args.sessions
    config = wasmtime.Config()
    # wasmtime's compile cache (~/.cache/wasmtime): a rule written in Python
    # carries CPython, 18 MB that take seconds to compile, once.
    config.cache = True
    engine = wasmtime.Engine(config)
    rules = []
    for path in args.rules:
        rule = Rule(engine, path)
        # Parameters are for the rule that the metadata names; read it again
        # after configure: a lookback may depend on a parameter.
        rule.call("configure", parameters_of(rule.call("metadata").__dict__, args.param))
        rules.append((rule, rule.call("metadata").__dict__))
    named = {name for _, metadata in rules for name in (metadata["short-name"], metadata["id"])}
    for rule, name, _ in args.param:
        if rule not in named:
            raise SystemExit(f"asim_host: --param {rule}.{name}: no rule {rule} is loaded")
    files = {"ingest-sessions": sessions, "ingest-indicators": indicators}
    for call in ("ingest-indicators", "ingest-sessions"):
        wanted = [(rule, window) for rule, metadata in rules
                  for window in windows(metadata, at) if window[0] == call]
        if not wanted:
            continue
        # Each file is read once, with every column some rule declared.
        columns = list(dict.fromkeys(name for _, (_, names, _, _) in wanted for name in names))
        rows = list(read_rows(files[call], columns))
        for rule, (_, names, first, at_included) in wanted:
            in_window = [row for row in rows
                         if first <= row[0] < at or (at_included and row[0] == at)]
            for start in range(0, len(in_window), BATCH_ROWS):
                rule.call(call, batch(names, in_window[start:start + BATCH_ROWS]))
    out = sys.stdout
    for rule, metadata in rules:
        for alert in rule.call("evaluate", at):
            out.write(json.dumps(alert_record(metadata, at, alert), separators=(",", ":"),
                                 ensure_ascii=False) + "\n")
        report_log(rule, metadata)


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except (RuleError, RowError, OSError, wasmtime.WasmtimeError) as error:
        raise SystemExit(f"asim_host: {error}")
