"""Nothing captured is lost when a server stops, on every server teams use.

Each row starts a real server on 127.0.0.1 with a Django, Flask or FastAPI
app, sends N requests, sends the signal at once, and looks for all N events
in the real otas-collector.  OTAS_FLUSH_INTERVAL_MS is a minute, so every
event is still in the process's memory when the signal arrives: only the
shutdown path can deliver it.  What a process could not deliver by its
OTAS_SHUTDOWN_TIMEOUT_MS deadline must be in the spool, and the next process
(a one-line drain run on the same spool) sends it; the test says which
of the two happened.
"""

import http.client
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid

import pytest

from otas_testing.collector import Collector
from sdk_support import HERE, PYTHONPATH, free_port, wait_for

N = 5
PY = sys.executable
BIN = os.path.dirname(PY)

DJ_WSGI = "djproject.wsgi:application"
DJ_ASGI = "djproject.asgi:application"
FLASK = "apps.flask_app:app"
FASTAPI = "apps.fastapi_app:app"


def _bin(name):
    path = os.path.join(BIN, name)
    return path if os.path.exists(path) else shutil.which(name)


def _gunicorn(app, *extra):
    return [_bin("gunicorn"), "-b", "127.0.0.1:{port}", "--graceful-timeout",
            "10", *extra, app]


def _uvicorn(app, *extra):
    return [_bin("uvicorn"), "--host", "127.0.0.1", "--port", "{port}",
            "--log-level", "warning", *extra, app]


def _runserver(*extra):
    return [PY, "-m", "django", "runserver", *extra, "127.0.0.1:{port}"]


ROWS = {
    # id: (command, signal, how, needs)
    "runserver-noreload-TERM": (_runserver("--noreload"), "TERM", "pid", None),
    "runserver-noreload-INT": (_runserver("--noreload"), "INT", "pid", None),
    "runserver-reload-INT-group": (_runserver(), "INT", "group", None),
    "runserver-reload-TERM": (_runserver(), "TERM", "pid", None),
    "gunicorn-sync-TERM": (_gunicorn(DJ_WSGI), "TERM", "pid", "gunicorn"),
    "gunicorn-sync-INT": (_gunicorn(DJ_WSGI), "INT", "pid", "gunicorn"),
    "gunicorn-sync-HUP": (_gunicorn(DJ_WSGI), "HUP", "pid", "gunicorn"),
    "gunicorn-sync-max-requests": (
        _gunicorn(DJ_WSGI, "--max-requests", "3"), "max-requests", "pid",
        "gunicorn"),
    "gunicorn-gthread-TERM": (
        _gunicorn(DJ_WSGI, "-k", "gthread", "--threads", "4"), "TERM", "pid",
        "gunicorn"),
    "gunicorn-uvicornworker-TERM": (
        _gunicorn(DJ_ASGI, "-k", "uvicorn.workers.UvicornWorker"), "TERM",
        "pid", "gunicorn"),
    "gunicorn-uvicornworker-INT": (
        # the master SIGKILLs the worker after --graceful-timeout (below):
        # 2 s, not 10, so the known failure shows quickly
        _gunicorn(DJ_ASGI, "-k", "uvicorn.workers.UvicornWorker",
                  "--graceful-timeout", "2"), "INT", "pid", "gunicorn"),
    "uvicorn-1-TERM": (_uvicorn(DJ_ASGI), "TERM", "pid", "uvicorn"),
    "uvicorn-1-INT": (_uvicorn(DJ_ASGI), "INT", "pid", "uvicorn"),
    "uvicorn-2-TERM": (_uvicorn(DJ_ASGI, "--workers", "2"), "TERM", "pid",
                       "uvicorn"),
    "hypercorn-TERM": (
        [None, "-b", "127.0.0.1:{port}", DJ_ASGI], "TERM", "pid", "hypercorn"),
    "daphne-TERM": (
        [None, "-b", "127.0.0.1", "-p", "{port}", DJ_ASGI], "TERM", "pid",
        "daphne"),
    "waitress-TERM": (
        [None, "--listen=127.0.0.1:{port}", DJ_WSGI], "TERM", "pid",
        "waitress-serve"),
    "waitress-INT": (
        [None, "--listen=127.0.0.1:{port}", DJ_WSGI], "INT", "pid",
        "waitress-serve"),
    "uwsgi-INT": (
        [None, "--http-socket", "127.0.0.1:{port}", "--module", DJ_WSGI,
         "--master", "--processes", "1", "--enable-threads", "--need-app",
         "--die-on-term", "--hook-master-start",
         "unix_signal:15 gracefully_kill_them_all"], "INT", "pid", "uwsgi"),
    "uwsgi-TERM": (
        [None, "--http-socket", "127.0.0.1:{port}", "--module", DJ_WSGI,
         "--master", "--processes", "1", "--enable-threads", "--need-app",
         "--die-on-term", "--hook-master-start",
         "unix_signal:15 gracefully_kill_them_all"], "TERM", "pid", "uwsgi"),
    "flask-gunicorn-TERM": (_gunicorn(FLASK), "TERM", "pid", "gunicorn"),
    "flask-waitress-TERM": (
        [None, "--listen=127.0.0.1:{port}", FLASK], "TERM", "pid",
        "waitress-serve"),
    "fastapi-uvicorn-TERM": (_uvicorn(FASTAPI), "TERM", "pid", "uvicorn"),
    "fastapi-hypercorn-TERM": (
        [None, "-b", "127.0.0.1:{port}", FASTAPI], "TERM", "pid",
        "hypercorn"),
    "fastapi-gunicorn-uvicornworker-TERM": (
        _gunicorn(FASTAPI, "-k", "uvicorn.workers.UvicornWorker"), "TERM",
        "pid", "gunicorn"),
}

DRAIN = """
import otas
from otas.wsgi import OtasWSGIMiddleware
app = OtasWSGIMiddleware(lambda e, s: (s("200 OK", []), [b"ok"])[1])
list(app({"REQUEST_METHOD": "GET", "PATH_INFO": "/drain", "wsgi.input": None},
         lambda *a: None))
otas.flush(timeout=10)
"""


def _get(port, path, timeout=5.0):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        r.read()
        return r.status
    finally:
        c.close()


def _up(port, proc):
    if proc.poll() is not None:
        raise AssertionError(f"server exited with {proc.returncode}")
    try:
        return _get(port, "/api/items/0", timeout=1.0) == 200
    except OSError:
        return False


# gunicorn 27's quick shutdown (SIGINT to the master) sends the
# UvicornWorker a SIGQUIT it never acts on, with or without OTAS: the master
# SIGKILLs it after --graceful-timeout, and nothing in the worker runs.
XFAIL = {"gunicorn-uvicornworker-INT": "the UvicornWorker ignores gunicorn's "
         "SIGQUIT and is SIGKILLed (also without OTAS)"}


@pytest.mark.parametrize("row", [
    pytest.param(r, marks=pytest.mark.xfail(reason=XFAIL[r], strict=True))
    if r in XFAIL else r for r in sorted(ROWS)])
def test_server_stop_loses_nothing(row, collector, tmp_path):
    cmd, sig, how, exe = ROWS[row]
    if exe is not None and cmd[0] is None:
        cmd = [_bin(exe)] + cmd[1:]
    if exe is not None and not _bin(exe):
        pytest.fail(f"{exe} is not installed: add it to requirements-dev.txt")
    port = free_port()
    cmd = [c.replace("{port}", str(port)) for c in cmd]
    spool = tmp_path / "spool"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTAS_")}
    env.update({
        "OTAS_SDK_KEY": collector.key, "OTAS_BASE_URL": collector.url,
        "OTAS_SPOOL_DIR": str(spool), "OTAS_FLUSH_INTERVAL_MS": "60000",
        "OTAS_SHUTDOWN_TIMEOUT_MS": "4000",
        "DJANGO_SETTINGS_MODULE": "djproject.settings",
        "PYTHONPATH": PYTHONPATH, "PYTHONUNBUFFERED": "1",
        "PYTHONFAULTHANDLER": "1",  # a hung process shows where (below)
    })
    log = open(tmp_path / "server.log", "w+")
    proc = subprocess.Popen(cmd, cwd=HERE, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    base = uuid.uuid4().int % 10**8 * 100
    paths = {f"/api/items/{base + i}" for i in range(1, N + 1)}
    try:
        wait_for(lambda: _up(port, proc), timeout=30, what=f"{row} up")
        for p in sorted(paths):
            assert _get(port, p) == 200
        signum = getattr(signal, "SIG" + sig, signal.SIGTERM)
        if sig == "HUP":
            os.kill(proc.pid, signal.SIGHUP)
            # the old workers stop gracefully; the new ones serve
            wait_for(lambda: _stored(collector, paths) >= N or None,
                     timeout=20, what=f"{row}: events after HUP")
            signum = signal.SIGTERM
        elif sig == "max-requests":
            # the worker recycled after 3 requests: those 3 are stored
            # now; the rest go when the server stops
            wait_for(lambda: _stored(collector, paths) >= 3 or None,
                     timeout=20, what=f"{row}: events of the recycled worker")
        if how == "group":
            os.killpg(proc.pid, signum)
        else:
            os.kill(proc.pid, signum)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            _dump_stacks(proc)
            log.seek(0)
            raise AssertionError(f"{row}: still running 30 s after the "
                                 f"signal\n{log.read()[-6000:]}") from None
        # events are committed before the 2xx: a short poll only covers
        # a worker the master stopped after it exited itself
        got = _poll_stored(collector, paths, 2.0)
        where = "delivered at stop"
        if got < N:
            subprocess.run([PY, "-c", DRAIN], env=env, cwd=HERE, timeout=60,
                           check=True)
            got = _poll_stored(collector, paths, 10.0)
            where = "spooled, delivered by the next process"
        log.seek(0)
        text = log.read()
        print(f"ROW {row}: {got}/{N} stored ({where})")
        assert got == N, f"{row}: {got} of {N} stored\n{text[-3000:]}"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        else:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # stray workers
            except ProcessLookupError:
                pass
        log.close()


def _dump_stacks(proc):
    """SIGABRT the process and its children: faulthandler prints every
    thread's stack into the server log."""
    # Its children from /proc, not pgrep: under `make asan-python` every
    # child inherits the preloaded sanitizer runtime, and pgrep with it
    # has been seen to hang at start-up.
    try:
        with open(f"/proc/{proc.pid}/task/{proc.pid}/children") as f:
            kids = f.read().split()
    except OSError:
        kids = []
    for pid in [int(k) for k in kids] + [proc.pid]:
        try:
            os.kill(pid, signal.SIGABRT)
        except ProcessLookupError:
            pass
    time.sleep(1)


def _stored(collector, paths):
    evs = collector.events(limit=1000, since=int(time.time()) - 120)
    return len({e.get("path") for e in evs} & paths)


def _poll_stored(collector, paths, timeout):
    deadline = time.monotonic() + timeout
    while True:
        got = _stored(collector, paths)
        if got >= len(paths) or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


def test_uwsgi_sigint_while_busy_still_delivers(collector, tmp_path):
    """uWSGI skips Python's atexit hooks when a worker is stopped while it
    is still busy with a request (here: a response whose close() lingers
    after its body went out). The engine's exit(3) handler delivers the
    events of the requests the worker had answered anyway."""
    exe = _bin("uwsgi")
    assert exe, "uwsgi is not installed: add it to requirements-dev.txt"
    port = free_port()
    marker = tmp_path / "busy"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTAS_")}
    env.update({
        "OTAS_SDK_KEY": collector.key, "OTAS_BASE_URL": collector.url,
        "OTAS_SPOOL_DIR": str(tmp_path / "spool"),
        "OTAS_FLUSH_INTERVAL_MS": "60000", "OTAS_SHUTDOWN_TIMEOUT_MS": "4000",
        "BUSY_MARKER": str(marker), "PYTHONPATH": PYTHONPATH,
        "PYTHONUNBUFFERED": "1",
    })
    log = open(tmp_path / "server.log", "w+")
    proc = subprocess.Popen(
        [exe, "--http-socket", f"127.0.0.1:{port}", "--module",
         "apps.busy_wsgi:app", "--master", "--processes", "1",
         "--enable-threads", "--need-app"],
        cwd=HERE, env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True)
    base = uuid.uuid4().int % 10**8 * 100
    paths = {f"/api/items/{base + i}" for i in range(1, N + 1)}
    try:
        wait_for(lambda: proc.poll() is None and _get_ok(port, "/api/items/0"),
                 timeout=30, what="uwsgi up")
        for p in sorted(paths):
            assert _get(port, p) == 200
        busy = threading.Thread(target=_get, args=(port, "/busy", 30),
                                daemon=True)
        busy.start()
        wait_for(marker.exists, timeout=10, what="the worker busy in close()")
        os.kill(proc.pid, signal.SIGINT)
        proc.wait(timeout=30)
        got = _poll_stored(collector, paths, 10.0)
        log.seek(0)
        text = log.read()
        assert got == N, f"{got} of {N} stored\n{text[-3000:]}"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        else:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        log.close()


def test_uwsgi_sigint_while_busy_back_end_down_spools(tmp_path):
    """The same stop with the back end gone since the worker
    authenticated: the exit(3) handler cannot deliver, so it spools what
    the worker holds (otas_engine_stop()), and a later process replays
    it once the back end is back.  A collector of its own: the test stops
    and restarts it."""
    exe = _bin("uwsgi")
    assert exe, "uwsgi is not installed: add it to requirements-dev.txt"
    coll = Collector(tmp_path / "collector")
    coll.start()
    port = free_port()
    marker = tmp_path / "busy"
    spool = tmp_path / "spool"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTAS_")}
    env.update({
        "OTAS_SDK_KEY": coll.key, "OTAS_BASE_URL": coll.url,
        "OTAS_SPOOL_DIR": str(spool),
        "OTAS_FLUSH_INTERVAL_MS": "60000", "OTAS_SHUTDOWN_TIMEOUT_MS": "3000",
        "BUSY_MARKER": str(marker), "PYTHONPATH": PYTHONPATH,
        "PYTHONUNBUFFERED": "1",
    })
    log = open(tmp_path / "server.log", "w+")
    proc = None
    base = uuid.uuid4().int % 10**8 * 100
    paths = {f"/api/items/{base + i}" for i in range(1, N + 1)}
    try:
        proc = subprocess.Popen(
            [exe, "--http-socket", f"127.0.0.1:{port}", "--module",
             "apps.busy_wsgi:app", "--master", "--processes", "1",
             "--enable-threads", "--need-app"],
            cwd=HERE, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
        wait_for(lambda: proc.poll() is None and _get_ok(port, "/api/items/0"),
                 timeout=30, what="uwsgi up")
        # the worker authenticated (its events wait for the flush) ...
        wait_for(lambda: _stats(port).get("authenticated"), timeout=20,
                 what="the worker authenticated")
        for p in sorted(paths):
            assert _get(port, p) == 200
        busy = threading.Thread(target=_get, args=(port, "/busy", 30),
                                daemon=True)
        busy.start()
        wait_for(marker.exists, timeout=10, what="the worker busy in close()")
        # ... then the back end goes away, and the worker is stopped busy
        coll.kill()
        os.kill(proc.pid, signal.SIGINT)
        proc.wait(timeout=30)
        files = list(spool.glob("*.sqlite"))
        log.seek(0)
        text = log.read()
        assert len(files) == 1, f"nothing spooled: {files}\n{text[-3000:]}"
        held = sqlite3.connect(files[0]).execute(
            "select coalesce(sum(n_events), 0) from batches").fetchone()[0]
        # N, and the worker's own /api/items/0, /stats and /busy
        assert held >= N, f"{held} spooled, {N} expected\n{text[-3000:]}"
        # the back end is back: the next process replays the spool (and
        # waits for it: the replay follows its own first delivery)
        coll.restart()
        subprocess.run([PY, "-c", DRAIN + _WAIT_UNSPOOLED % held], env=env,
                       cwd=HERE, timeout=60, check=True)
        got = _poll_stored(coll, paths, 20.0)
        assert got == N, f"{got} of {N} replayed from the spool"
        evs = coll.events(limit=1000, since=int(time.time()) - 120)
        assert sorted(e["path"] for e in evs if e["path"] in paths) == \
            sorted(paths), "an event stored twice or missing"
        assert sqlite3.connect(files[0]).execute(
            "select count(*) from batches").fetchone()[0] == 0
    finally:
        if proc is not None:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
            else:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        log.close()
        coll.stop()


# exit(3) from a thread that holds the GIL (a server's C signal handler
# interrupting Python code) while the sender thread is inside the Python log
# callback: the sender cannot go on, so the exit handler must not wait for it
# past the shutdown timeout.
_EXIT_HOLDING_GIL = """
import ctypes, threading, time
from otas import _engine
inside = threading.Event()

def log(level, msg):
    inside.set()
    time.sleep(30)  # releases the GIL; needs it back to return

eng = _engine.Engine({"OTAS_SDK_KEY": "otas_AAAAAAAAAAA_" + "E" * 43,
                      "OTAS_BASE_URL": "http://127.0.0.1:9",
                      "OTAS_SPOOL_DIR": %r, "OTAS_SHUTDOWN_TIMEOUT_MS": "1000"},
                     log=log, log_level=30)
eng.capture(_engine.Exchange("GET", "/a", None, [], 1, status=200))
assert inside.wait(20), "the sender never logged"
print("EXITING", flush=True)
ctypes.PyDLL(None).exit(0)  # PyDLL: the GIL stays held
"""


def test_exit_holding_the_gil_while_the_sender_logs_does_not_hang(tmp_path):
    t0 = time.monotonic()
    p = subprocess.run([PY, "-c", _EXIT_HOLDING_GIL % str(tmp_path / "spool")],
                       cwd=HERE, capture_output=True, text=True, timeout=60)
    took = time.monotonic() - t0
    assert "EXITING" in p.stdout, p.stdout + p.stderr
    assert p.returncode == 0, p.stdout + p.stderr
    # the shutdown timeout (1 s) and the exit handler's margin, not the
    # log callback's 30 s
    assert took < 15, took


_WAIT_UNSPOOLED = """
import time
deadline = time.monotonic() + 30
while otas.stats().get("unspooled", 0) < %d and time.monotonic() < deadline:
    time.sleep(0.05)
"""


def _stats(port):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        c.request("GET", "/stats")
        return json.loads(c.getresponse().read())
    finally:
        c.close()


def _get_ok(port, path):
    try:
        return _get(port, path, timeout=1.0) == 200
    except OSError:
        return False
