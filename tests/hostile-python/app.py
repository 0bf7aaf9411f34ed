"""A Python rule that misbehaves on purpose, one way per `mode` parameter,
for the containment tests (tests/e2e/python_rules.rs). Modes that only try
something report what they got as one alert per evaluation (`Outcome`), so
the tests read what the sandbox answered; the others never return."""

import os
import random
import socket
import sys
import time

from asim_rule import MINUTE, Alert, Metadata, Severity, export

MODES = ("files", "listdir", "environment", "socket", "clock", "spin", "allocate", "exit", "print")


def attempt(action):
    """`ok: ...` with what `action` returned, or the exception it raised."""
    try:
        return f"ok: {action()!r}"
    except BaseException as error:  # the sandbox's answer is what is reported
        return f"{type(error).__name__}: {error}"


class Hostile:
    def __init__(self, parameters):
        self.mode = "clock"
        for name, value in parameters:
            if name != "mode" or value not in MODES:
                raise ValueError(f"{name}={value!r}: mode is one of {', '.join(MODES)}")
            self.mode = value

    def metadata(self):
        return Metadata(
            id="7e1f0c52-9d7a-4c1e-8a3b-6b0d2f4e9c11", short_name="hostile-python",
            name="Hostile Python rule (tests only)", version="0.1.0",
            description="Misbehaves on purpose.", severity=Severity.INFORMATIONAL,
            frequency=10 * MINUTE, session_lookback=10 * MINUTE, session_columns=["SrcIpAddr"],
            parameters=[])

    def ingest_sessions(self, sessions):
        pass

    def evaluate(self, at):
        mode = self.mode
        if mode == "files":
            outcome = attempt(lambda: open("/etc/passwd").read(64))
        elif mode == "listdir":
            outcome = attempt(lambda: os.listdir("/"))
        elif mode == "environment":
            outcome = attempt(lambda: (dict(os.environ), sys.argv))
        elif mode == "socket":
            outcome = attempt(lambda: socket.socket().connect(("127.0.0.1", 22)))
        elif mode == "clock":
            outcome = f"ok: {round(time.time() * 1_000_000)} {time.monotonic_ns()} {random.random()} {os.urandom(4).hex()}"
        elif mode == "spin":
            while True:
                pass
        elif mode == "allocate":
            hoard = []
            while True:
                hoard.append(bytearray(1 << 20))
        elif mode == "exit":
            sys.exit(3)
        else:  # print: more than the host keeps
            for line in range(10_000):
                print(f"line {line} of what a rule printed")
            outcome = "ok: printed"
        return [Alert(name=f"hostile {mode}", description=outcome, start_time=at, end_time=at,
                      custom_details=[("Outcome", outcome)])]

    def snapshot(self):
        return b""

    def restore(self, state):
        pass


Rule = export(Hostile)
