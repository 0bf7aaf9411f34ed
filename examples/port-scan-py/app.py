"""Port scan from one source, in Python: the rule of examples/port-scan (its
README is the spec) written against the Python SDK (guest-rules/python-sdk).
On the same sessions its alerts are those of the Rust build, byte for byte."""

from asim_rule import (
    MINUTE, Alert, Metadata, Parameter, Severity, Time, decode_state, encode_state, export,
    ip_entity,
)

RULE_ID = "5f0c2a8e-7b3d-4e91-a6c4-2d8f1b9e7a30"
STATE_FORMAT = 1
WINDOW = 10 * MINUTE
LIMITS = {"ports": 65_535, "hosts": 1_000_000}
DEFAULTS = {"ports": 25, "hosts": 25}


class PortScan:
    def __init__(self, parameters):
        self.thresholds = dict(DEFAULTS)
        for name, value in parameters:
            if name not in LIMITS:
                raise ValueError(f"unknown parameter {name}")
            # As Rust reads a `usize`: ASCII digits, one `+` allowed before them.
            digits = value[1:] if value.startswith("+") else value
            number = int(digits) if digits.isascii() and digits.isdigit() else 0
            if not 1 <= number <= LIMITS[name]:
                raise ValueError(f"{name}: {value!r} is not a whole number from 1 to {LIMITS[name]}")
            self.thresholds[name] = number
        # The window's sessions: (time, source, destination, port or None).
        self.contacts = []

    def metadata(self):
        return Metadata(
            id=RULE_ID,
            short_name="port-scan-py",
            name="Port scan from one source (ASIM Network Session schema)",
            version="0.1.0",
            description="A source address reached {DistinctPorts} destination ports on "
                        "{DistinctHosts} hosts within 10 minutes.",
            severity=Severity.MEDIUM,
            tactics=["Discovery"],
            techniques=["T1046"],
            frequency=WINDOW,
            session_lookback=WINDOW,
            session_columns=["SrcIpAddr", "DstIpAddr", "DstPortNumber"],
            parameters=[
                Parameter("ports", "distinct destination ports from one source that alert "
                          "when exceeded (1 to 65535)", str(DEFAULTS["ports"])),
                Parameter("hosts", "distinct destination addresses from one source that "
                          "alert when exceeded (1 to 1000000)", str(DEFAULTS["hosts"])),
            ],
        )

    def ingest_sessions(self, sessions):
        for time, src, dst, port in zip(sessions.times, sessions["SrcIpAddr"],
                                        sessions["DstIpAddr"], sessions["DstPortNumber"]):
            # A session without both addresses says nothing of a scan.
            if src.ip is not None and dst.ip is not None:
                self.contacts.append((time, src.text, dst.text, port))

    def evaluate(self, at):
        start = at - WINDOW
        self.contacts = [contact for contact in self.contacts if contact[0] >= start]
        sources = {}
        for time, src, dst, port in self.contacts:
            if time >= at:
                continue
            reach = sources.setdefault(src, [set(), set(), 0, time, time])
            if port is not None:
                reach[0].add(port)
            reach[1].add(dst)
            reach[2] += 1
            reach[3] = min(reach[3], time)
            reach[4] = max(reach[4], time)
        alerts = []
        # Sources in the order of their UTF-8 bytes, as the Rust rule's map.
        for src in sorted(sources, key=str.encode):
            ports, hosts, count, first, last = sources[src]
            if len(ports) <= self.thresholds["ports"] and len(hosts) <= self.thresholds["hosts"]:
                continue
            alerts.append(Alert(
                name=f"Port scan from {src}",
                description=f"{src} reached {len(ports)} destination ports on {len(hosts)} "
                            "hosts within 10 minutes.",
                start_time=first,
                end_time=last,
                entities=[ip_entity(src)],
                custom_details=[
                    ("SrcIpAddr", src),
                    ("DistinctPorts", len(ports)),
                    ("DistinctHosts", len(hosts)),
                    ("Sessions", count),
                    ("FirstSeen", Time(first)),
                    ("LastSeen", Time(last)),
                ],
            ))
        return alerts

    def stats(self):
        return [("session-rows-held", len(self.contacts))]

    def snapshot(self):
        return encode_state(RULE_ID, STATE_FORMAT, {"thresholds": self.thresholds,
                                                     "contacts": self.contacts})

    def restore(self, state):
        state = decode_state(RULE_ID, STATE_FORMAT, state)
        self.thresholds = state["thresholds"]
        self.contacts = [tuple(contact) for contact in state["contacts"]]


Rule = export(PortScan)
