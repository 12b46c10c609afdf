"""A pytest fixture for mqttest: a fresh MQTT test server per test, from any Python test suite.

The fixture starts the `mqttest` command (the MQTTEST environment variable names it; default: the
`mqttest` on PATH) on a free port with `--events --control stdin`, reads its startup line, and
gives the test:

- `server.url`, `server.host`, `server.port`: where to connect;
- `server.wait_for(predicate, timeout)`: the next server event (a dict, as in the README) that
  matches, from a queue fed by a reader thread; events that do not match are skipped;
- `server.command(cmd, **fields)`: a control command (publish, send, disconnect, configure, reset,
  offline, online, blackhole, stats, stop); returns its result or raises MqttestError.

Options for one test: `@pytest.mark.mqttest("--ack-delay", "500")`. At the end of the test, failed
or not, the fixture closes the server's stdin: the server answers what came before, stops and
exits 0. If the test process dies, the pipe closes the same way, so no server is left running.
"""

import itertools
import json
import os
import queue
import shlex
import subprocess
import threading
import time

import pytest


class MqttestError(Exception):
    """A control command the server refused; the message is the server's."""


class Mqttest:
    def __init__(self, *args):
        command = shlex.split(os.environ.get("MQTTEST", "mqttest"))
        self._process = subprocess.Popen(
            [*command, "--ports", "0", "--events", "--control", "stdin", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        startup = self._process.stdout.readline()
        if not startup:
            raise RuntimeError(f"mqttest exited with {self._process.wait()} before listening")
        address = json.loads(startup)
        self.host, self.port, self.url = address["host"], address["port"], address["url"]
        self._events = queue.Queue()
        self._replies = {}
        self._replied = threading.Condition()
        self._ids = itertools.count(1)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        # stdout carries events (with "_tag") and control answers (with "reply").
        for line in self._process.stdout:
            message = json.loads(line)
            if "reply" in message:
                with self._replied:
                    self._replies[message["reply"]] = message
                    self._replied.notify_all()
            else:
                self._events.put(message)

    def command(self, cmd, timeout=10, **fields):
        request = next(self._ids)
        self._process.stdin.write(json.dumps({"id": request, "cmd": cmd, **fields}) + "\n")
        self._process.stdin.flush()
        with self._replied:
            if not self._replied.wait_for(lambda: request in self._replies, timeout):
                raise TimeoutError(f"no answer to {cmd} within {timeout} s")
            answer = self._replies.pop(request)
        if not answer["ok"]:
            raise MqttestError(answer["error"])
        return answer.get("result")

    def wait_for(self, predicate, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                event = self._events.get(timeout=max(left, 0))
            except queue.Empty:
                raise TimeoutError(f"no matching event within {timeout} s") from None
            if predicate(event):
                return event

    def stop(self, timeout=10):
        """Ends the control input: the server stops and exits 0 (killed if it does not in time)."""
        if self._process.poll() is None:
            self._process.stdin.close()
            try:
                return self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
                raise
        return self._process.returncode


def pytest_configure(config):
    config.addinivalue_line("markers", "mqttest(*args): command-line options of the test's mqttest server")


@pytest.fixture
def mqttest(request):
    marker = request.node.get_closest_marker("mqttest")
    server = Mqttest(*(marker.args if marker else ()))
    try:
        yield server
    finally:
        exit_code = server.stop()
    assert exit_code == 0, f"mqttest exited with {exit_code}"
