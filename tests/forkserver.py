"""A fork server for the multi-process tests: the worker script's imports (casekit,
psycopg) are paid once, not once per worker process.

``ForkServer(script, folder)`` starts one Python process that imports ``script`` (or
the modules named in ``preload``); ``spawn(*args)`` then forks it and runs ``script`` as
``__main__`` with ``sys.argv[1:] == args`` in the child, whose standard input, output
and error are pipes of the caller. Each worker is still a real OS process of its own
(its own store, its own connections, killable with SIGKILL); what it answers is a
``subprocess.Popen`` look-alike with ``stdin``, ``stdout``, ``stderr`` (text), ``pid``,
``send_signal``, ``poll``, ``wait``, ``communicate``, use in ``with``, and
``returncode`` (``-signal`` for a killed worker, as ``Popen`` says it). The server
reaps its children and reports each exit status, so their CPU time is counted as the
server's children's, and the server's as the test run's.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Sequence
from types import TracebackType
from typing import IO, Self

SERVER = r"""
import importlib, importlib.util, json, os, runpy, selectors, signal, socket, sys, traceback

address, script, preload = sys.argv[1], sys.argv[2], sys.argv[3:]
if preload:  # the imports that every worker needs, done once
    for name in preload:
        importlib.import_module(name)
else:  # the script's own imports (its body runs under if __name__ == "__main__")
    spec = importlib.util.spec_from_file_location("_forkserver_worker", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
server = socket.socket(socket.AF_UNIX)
server.bind(address)
server.listen(64)
print("listening", flush=True)
children = {}  # pid -> the connection its exit status goes to


def run(args):
    sys.argv = [script, *args]
    code = 0
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as exc:
        if isinstance(exc.code, int) or exc.code is None:
            code = exc.code or 0
        else:
            print(exc.code, file=sys.stderr)
            code = 1
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except BaseException:
                pass
    os._exit(code)


def reap(block):
    while children:
        try:
            pid, status = os.waitpid(-1, 0 if block else os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        conn = children.pop(pid, None)
        if conn is not None:
            try:
                conn.sendall(b"%d\n" % os.waitstatus_to_exitcode(status))
            except OSError:
                pass
            conn.close()


selector = selectors.DefaultSelector()
selector.register(server, selectors.EVENT_READ)
while True:
    if not selector.select(timeout=0.01):
        reap(block=False)
        continue
    conn, _ = server.accept()
    message, fds, _, _ = socket.recv_fds(conn, 65536, 3)
    request = json.loads(message)
    if request.get("stop"):
        conn.close()
        break
    pid = os.fork()
    if pid == 0:
        server.close()
        for other in children.values():
            other.close()
        conn.close()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        run(request["args"])
    for fd in fds:
        os.close(fd)
    conn.sendall(b"%d\n" % pid)
    children[pid] = conn
    reap(block=False)
for pid in list(children):
    try:
        os.kill(pid, signal.SIGKILL)  # a worker a test left behind
    except ProcessLookupError:
        pass
reap(block=True)
"""


class ForkServer:
    """The server process for ``script``; ``stop`` ends it (and any worker left).

    The server imports ``preload`` (module names), or else ``script`` itself, which
    then must do its work only under ``if __name__ == "__main__"``."""

    def __init__(
        self, script: pathlib.Path, folder: pathlib.Path, preload: Sequence[str] = ()
    ) -> None:
        self.address = str(folder / "forkserver.sock")
        self.log = folder / "forkserver.log"
        with self.log.open("w") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", SERVER, self.address, str(script), *preload],
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline() == "listening\n", self.log.read_text()

    def spawn(self, *args: object) -> Forked:
        return Forked(self.address, [str(arg) for arg in args])

    def stop(self) -> None:
        with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as conn:
            conn.connect(self.address)
            socket.send_fds(conn, [b'{"stop": true}'], [])
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        assert self.proc.returncode == 0, self.log.read_text()


class Forked:
    """One worker forked by the server, used as a ``subprocess.Popen`` with text pipes."""

    stdin: IO[str]
    stdout: IO[str]
    stderr: IO[str]

    def __init__(self, address: str, args: list[str]) -> None:
        in_read, in_write = os.pipe()
        out_read, out_write = os.pipe()
        err_read, err_write = os.pipe()
        self.conn = socket.socket(socket.AF_UNIX)
        try:
            self.conn.connect(address)
            message = json.dumps({"args": args}).encode()
            socket.send_fds(self.conn, [message], [in_read, out_write, err_write])
        finally:
            for fd in (in_read, out_write, err_write):
                os.close(fd)
        self.stdin = open(in_write, "w")  # noqa: SIM115 - closed by communicate
        self.stdout = open(out_read)  # noqa: SIM115
        self.stderr = open(err_read)  # noqa: SIM115
        self.answers = b""  # from the server: the pid, then the exit status
        self.pid = int(self._answer(None))
        self.returncode: int | None = None

    def _answer(self, timeout: float | None) -> bytes:
        """The server's next line (blocking up to ``timeout``; ``b""`` at once if
        ``timeout`` is 0 and none has come)."""
        self.conn.settimeout(timeout)
        while b"\n" not in self.answers:
            try:
                chunk = self.conn.recv(64)
            except (TimeoutError, BlockingIOError):
                if timeout == 0:
                    return b""
                raise
            if not chunk:
                raise ConnectionError("the fork server went away")
            self.answers += chunk
        line, self.answers = self.answers.split(b"\n", 1)
        return line

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for stream in (self.stdin, self.stdout, self.stderr):
            with contextlib.suppress(OSError):
                stream.close()
        self.wait()

    def poll(self) -> int | None:
        if self.returncode is None:
            line = self._answer(0)
            if line:
                self._exited(line)
        return self.returncode

    def _exited(self, line: bytes) -> None:
        self.returncode = int(line)
        self.conn.close()

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            try:
                line = self._answer(timeout)
            except TimeoutError:
                raise subprocess.TimeoutExpired(["forked", str(self.pid)], timeout or 0) from None
            self._exited(line)
        assert self.returncode is not None
        return self.returncode

    def communicate(self, timeout: float | None = None) -> tuple[str, str]:
        """Close stdin, read stdout and stderr to their ends, wait for the exit."""
        with contextlib.suppress(BrokenPipeError):
            self.stdin.close()
        got: dict[str, str] = {}

        def read(name: str, stream: IO[str]) -> None:
            got[name] = stream.read()

        readers = [
            threading.Thread(target=read, args=(name, stream), daemon=True)
            for name, stream in (("out", self.stdout), ("err", self.stderr))
        ]
        for reader in readers:
            reader.start()
        for reader in readers:
            reader.join(timeout)
            if reader.is_alive():
                raise subprocess.TimeoutExpired(["forked", str(self.pid)], timeout or 0)
        self.stdout.close()
        self.stderr.close()
        self.wait(timeout)
        return got["out"], got["err"]
