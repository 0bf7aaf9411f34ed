"""asim_rule: write an asim-rules detection in Python.

A rule is a class with `metadata`, `configure`, `ingest_sessions` (and, if it
reads them, `ingest_indicators`, `ingest_summaries`), `evaluate`, `snapshot`
and `restore`; `export(YourRule)` turns it into the `rule` interface of the WIT
world `detection` (wit/asim-rules.wit), which componentize-py builds into a
component. Batches arrive as columns decoded for Python (`Batch`), alerts
leave as `Alert` values, a failure is any exception (its text is the error
the host reports). README.md beside this package is the walk-through.
"""

import ipaddress
import json
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple, Union

from componentize_py_types import Err
from wit_world.exports import rule as wit

MINUTE = 60_000_000
"""A minute in microseconds, the unit of every time and duration."""
HOUR = 60 * MINUTE
DAY = 24 * HOUR

Severity = wit.Severity
IPV4_MAPPED = 0xFFFF << 32
NOT_AN_ADDRESS = 255


@dataclass(frozen=True)
class Ip:
    """An address or network as the host parsed it: IPv4 in the IPv4-mapped
    IPv6 space (`::ffff:a.b.c.d`, a `/n` network as `/(96+n)`)."""

    addr: int
    prefix_len: int

    def contains(self, other: "Ip") -> bool:
        """Whether `other` (an address or a network) lies inside this one."""
        if other.prefix_len < self.prefix_len:
            return False
        shift = 128 - self.prefix_len
        return (other.addr >> shift) == (self.addr >> shift)

    @staticmethod
    def parse(text: str) -> Optional["Ip"]:
        """The address or network `text` denotes, as the host would parse it."""
        try:
            network = ipaddress.ip_network(text.strip(), strict=False)
        except ValueError:
            return None
        if network.version == 4:
            return Ip(IPV4_MAPPED | int(network.network_address), 96 + network.prefixlen)
        return Ip(int(network.network_address), network.prefixlen)


def _table(strings: str, ends: Sequence[int]) -> List[str]:
    """The distinct values of a string table, cut at their byte offsets."""
    encoded = strings.encode()
    if len(encoded) == len(strings):
        # ASCII: byte offsets are character offsets.
        return [strings[start:end] for start, end in zip([0, *ends], ends)]
    return [encoded[start:end].decode() for start, end in zip([0, *ends], ends)]


class Batch:
    """Rows of one table, by column: `times` (TimeGenerated, microseconds) and
    each declared column by name, decoded for Python:

    - text: `str` per row ("" for an empty value);
    - IP: `IpValue` per row (`text` as written, `ip` parsed or None);
    - integer, real, boolean, time: the value per row, or None.
    """

    def __init__(self, batch: wit.Batch):
        self.times: List[int] = batch.time_generated
        self._columns = {column.name: column.values for column in batch.columns}
        self._decoded: Dict[str, list] = {}

    def __len__(self) -> int:
        return len(self.times)

    def __getitem__(self, name: str) -> list:
        if name not in self._decoded:
            if name not in self._columns:
                raise KeyError(f"the batch has no column {name}")
            self._decoded[name] = _decode(name, self._columns[name], len(self.times))
        return self._decoded[name]


@dataclass(frozen=True)
class IpValue:
    """One row of an IP column: the text as the source wrote it, and the
    address or network it denotes (None when it is none)."""

    text: str
    ip: Optional[Ip]


def _decode(name: str, values: wit.ColumnValues, rows: int) -> list:
    if isinstance(values, wit.ColumnValues_Text):
        column = values.value
        table = _table(column.strings, column.ends)
        decoded = [table[code] for code in column.codes]
    elif isinstance(values, wit.ColumnValues_Ip):
        column = values.value
        texts = _table(column.strings, column.ends)
        distinct = [
            IpValue(text, None if length == NOT_AN_ADDRESS else Ip((hi << 64) | lo, length))
            for text, hi, lo, length in zip(texts, column.addr_hi, column.addr_lo, column.prefix_len)
        ]
        decoded = [distinct[code] for code in column.codes]
    else:
        decoded = values.value
    if len(decoded) != rows:
        raise ValueError(f"column {name} has {len(decoded)} values for {rows} rows")
    return decoded


@dataclass
class Parameter:
    """A parameter a deployment may set: its name, what it changes and its
    allowed range, and its default as text."""

    name: str
    description: str
    default: str


@dataclass
class Metadata:
    """What a rule is and needs (the WIT `rule-metadata`, in microseconds)."""

    id: str
    short_name: str
    name: str
    version: str
    description: str
    severity: wit.Severity
    frequency: int
    session_lookback: int
    session_columns: List[str]
    tactics: List[str] = field(default_factory=list)
    techniques: List[str] = field(default_factory=list)
    indicator_lookback: Optional[int] = None
    indicator_columns: List[str] = field(default_factory=list)
    summary_columns: List[str] = field(default_factory=list)
    parameters: List[Parameter] = field(default_factory=list)

    def to_wit(self) -> wit.RuleMetadata:
        return wit.RuleMetadata(
            id=self.id, short_name=self.short_name, name=self.name, version=self.version,
            description=self.description, severity=self.severity, tactics=list(self.tactics),
            techniques=list(self.techniques), frequency=self.frequency,
            session_lookback=self.session_lookback, session_columns=list(self.session_columns),
            indicator_lookback=self.indicator_lookback,
            indicator_columns=list(self.indicator_columns),
            summary_columns=list(self.summary_columns),
            parameters=[wit.ParameterSpec(p.name, p.description, p.default)
                        for p in self.parameters])


class Time(int):
    """A custom detail that is an instant (microseconds since the epoch),
    not a whole number."""


Detail = Union[None, str, int, float, Time]


@dataclass
class Alert:
    """One alert: name and description with their placeholders filled, the
    time span it covers, its entities (kind, [(property, value)]) and custom
    details, in order."""

    name: str
    description: str
    start_time: int
    end_time: int
    entities: List[Tuple[str, List[Tuple[str, str]]]] = field(default_factory=list)
    custom_details: List[Tuple[str, Detail]] = field(default_factory=list)

    def to_wit(self) -> wit.Alert:
        return wit.Alert(
            name=self.name, description=self.description,
            start_time=self.start_time, end_time=self.end_time,
            entities=[wit.Entity(kind, list(properties)) for kind, properties in self.entities],
            custom_details=[(name, _detail(value)) for name, value in self.custom_details])


def ip_entity(address: str) -> Tuple[str, List[Tuple[str, str]]]:
    """The entity of an IP address, as Sentinel names it."""
    return ("ip", [("Address", address)])


def _detail(value: Detail) -> wit.DetailValue:
    if value is None:
        return wit.DetailValue_None_()
    if isinstance(value, Time):
        return wit.DetailValue_Time(int(value))
    if isinstance(value, bool):
        raise TypeError("a custom detail is text, a number or a Time, not a bool")
    if isinstance(value, int):
        return wit.DetailValue_Integer(value)
    if isinstance(value, float):
        return wit.DetailValue_Real(value)
    return wit.DetailValue_Text(str(value))


STATE_MAGIC = b"asim-rules python state\n"


def encode_state(rule_id: str, version: int, state) -> bytes:
    """A snapshot: `state` (JSON-serialisable) tagged with the rule and the
    format version, so `decode_state` refuses another rule's or format's."""
    header = json.dumps({"rule": rule_id, "format": version}).encode()
    return STATE_MAGIC + header + b"\n" + json.dumps(state, separators=(",", ":")).encode()


def decode_state(rule_id: str, version: int, data: bytes):
    """The state `encode_state` tagged for this rule and format."""
    data = bytes(data)
    if not data.startswith(STATE_MAGIC):
        raise ValueError("not a state of a Python rule")
    header, _, body = data[len(STATE_MAGIC):].partition(b"\n")
    tag = json.loads(header)
    if tag.get("rule") != rule_id:
        raise ValueError(f"a state of rule {tag.get('rule')}, not of {rule_id}")
    if tag.get("format") != version:
        raise ValueError(f"state format {tag.get('format')}; this build reads {version}")
    return json.loads(body)


def _refusing(call):
    """`call` with any exception turned into the WIT error the host reports."""
    def wrapped(*args):
        try:
            return call(*args)
        except Err:
            raise
        except Exception as error:  # the rule's failure, reported by the host
            raise Err(f"{type(error).__name__}: {error}")
    return wrapped


def _ingest_optional(rule, table, batch):
    """Feeds `batch` to the rule's `ingest_TABLE`, which a rule that does not
    read `table` leaves out."""
    ingest = getattr(rule, f"ingest_{table}", None)
    if ingest is None:
        raise ValueError(f"this rule reads no {table}")
    ingest(Batch(batch))


def export(rule_class):
    """The `Rule` class componentize-py exports for `rule_class`: a rule class
    built as `rule_class()` (defaults) or `rule_class(parameters)` from
    `configure`, with the methods this module's docstring names."""

    # componentize-py makes a `Rule` for each call: the deployment lives
    # here, one per instance of the component.
    deployment = [rule_class([])]

    class Rule:
        @property
        def rule(self):
            return deployment[0]

        def metadata(self) -> wit.RuleMetadata:
            return self.rule.metadata().to_wit()

        @_refusing
        def configure(self, parameters: List[Tuple[str, str]]) -> None:
            deployment[0] = rule_class(parameters)

        @_refusing
        def ingest_sessions(self, sessions: wit.Batch) -> None:
            self.rule.ingest_sessions(Batch(sessions))

        @_refusing
        def ingest_indicators(self, indicators: wit.Batch) -> None:
            _ingest_optional(self.rule, "indicators", indicators)

        @_refusing
        def ingest_summaries(self, summaries: wit.Batch) -> None:
            _ingest_optional(self.rule, "summaries", summaries)

        @_refusing
        def evaluate(self, at: int) -> List[wit.Alert]:
            return [alert.to_wit() for alert in self.rule.evaluate(at)]

        def stats(self) -> List[Tuple[str, int]]:
            stats = getattr(self.rule, "stats", None)
            return list(stats()) if stats else []

        def snapshot(self) -> bytes:
            return self.rule.snapshot()

        @_refusing
        def restore(self, state: bytes) -> None:
            self.rule.restore(state)

    Rule.__name__ = Rule.__qualname__ = "Rule"
    return Rule
