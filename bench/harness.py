"""What every benchmark section shares: the peers' venv, the sink, a real
otas-collector, and worker processes spoken to over JSON lines.

The peers live in their own venv (build/bench-venv, pip from PyPI only) so
their dependencies never reach the test venv.  Every variant, ours included,
runs with that venv's interpreter and its Django, so the only difference
between variants is the SDK.  otas itself is not reinstalled there: the
package that `make build` installed (engine and all) is exposed through a
directory holding a single symlink to it (build/bench-otas/otas), so no other
package of the test venv leaks in.

The `before` variant is otas as it was at a git ref (`--before REF`): the
tree is exported with `git archive` into build/bench-before/<sha>/src, built
into a wheel with the test venv's build tools, and installed into a venv of
its own (build/bench-before/<sha>/venv); its package is exposed the same way
(build/bench-before/<sha>/pkg/otas).  Both packages are named `otas`, so a
worker process only ever sees one of them on its path.  Everything is kept
by sha: a second run reuses it.
"""

import atexit
import hashlib
import json
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
BUILD = ROOT / "build"
VENV = BUILD / "bench-venv"
LOGS = BUILD / "bench-logs"

# Peers: variant name -> (label, pip requirements).  Pinned so that a run is
# repeatable; PEERS.md describes these versions.
PEERS = {
    "moesif": ("moesifdjango 2.3.13", ["moesifdjango==2.3.13"]),
    "apitoolkit": ("apitoolkit-django 2.0.1 + OTel SDK",
                   ["apitoolkit-django==2.0.1", "opentelemetry-sdk==1.45.2",
                    "opentelemetry-exporter-otlp-proto-http==1.45.2"]),
    "otel": ("opentelemetry-instrumentation-django 0.66b2 + OTel SDK",
             ["opentelemetry-instrumentation-django==0.66b2",
              "opentelemetry-sdk==1.45.2",
              "opentelemetry-exporter-otlp-proto-http==1.45.2"]),
    "sentry": ("sentry-sdk 2.75.0", ["sentry-sdk==2.75.0"]),
}
BASE_REQS = ["matplotlib>=3.8,<4", "gunicorn==23.0.0"]


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def django_requirement():
    """The test venv's Django, so both venvs run the same version."""
    try:
        from importlib.metadata import version

        return f"Django=={version('Django')}"
    except Exception:
        return "Django>=5.2,<5.3"


def ensure_venv(skip_install=False):
    """Create build/bench-venv and install the peers, each on its own so one
    that fails is reported with pip's reason, never silently missing.
    Returns (python, {variant: None if installed else reason})."""
    py = VENV / "bin" / "python"
    status = {}
    if not py.exists():
        log(f"creating {VENV}")
        base = getattr(sys, "_base_executable", None) or sys.executable
        subprocess.run([base, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "--upgrade", "pip"],
                       check=False)
    groups = [("base", [django_requirement()] + BASE_REQS)]
    groups += [(v, reqs) for v, (_label, reqs) in PEERS.items()]
    for name, reqs in groups:
        stamp = VENV / f".stamp-{name}"
        digest = hashlib.sha256(" ".join(reqs).encode()).hexdigest()
        if stamp.exists() and stamp.read_text() == digest:
            status[name] = None
            continue
        if skip_install:
            status[name] = "not installed (--skip-install)"
            continue
        log(f"pip install {' '.join(reqs)}")
        p = subprocess.run([str(py), "-m", "pip", "install", "-q",
                            "--disable-pip-version-check", *reqs],
                           capture_output=True, text=True)
        if p.returncode == 0:
            stamp.write_text(digest)
            status[name] = None
        else:
            err = [ln for ln in p.stderr.splitlines()
                   if ln.startswith("ERROR") or "error" in ln.lower()]
            status[name] = "pip install failed: " + (
                " / ".join(err[-2:]) or p.stderr.strip()[-300:])
            log(f"{name}: {status[name]}")
    base = status.pop("base")
    if base:
        raise SystemExit(f"bench venv: {base}")
    return str(py), {k: v for k, v in status.items() if v}


def otas_pythonpath():
    """(directory exposing the installed otas package, why not, if not).

    Looks the package up with the interpreter running run.py (the test venv
    after `make build`).  Without an installed package, the source tree is
    used and the engine is missing, which the otas variant reports."""
    import importlib.util

    spec = importlib.util.find_spec("otas")
    if spec is None or not spec.submodule_search_locations:
        return str(ROOT / "python"), "otas is not installed (run `make build`)"
    pkg = Path(list(spec.submodule_search_locations)[0]).resolve()
    link_dir = BUILD / "bench-otas"
    link_dir.mkdir(parents=True, exist_ok=True)
    link = link_dir / "otas"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(pkg, target_is_directory=True)
    why = None
    if importlib.util.find_spec("otas._engine") is None:
        why = f"the C engine is not built ({pkg} has no _engine module)"
    return str(link_dir), why


BEFORE_DEFAULT = "95696e0"  # main when round 2's engine work started (issue 18)


def _git(*args, timeout=120):
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True,
                          text=True, timeout=timeout)


class Before:
    """otas built from a git ref, in build/bench-before/<sha>/.

    Attributes: ref, sha (full), short, root (the exported source tree),
    path (the directory to put on PYTHONPATH), error (why it is not usable,
    or None), built_s (seconds spent building now; 0 when cached)."""

    def __init__(self, ref):
        self.ref, self.error, self.built_s = ref, None, 0.0
        self.sha = self.short = self.root = self.path = None
        p = _git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
        if p.returncode != 0:
            self.error = f"--before {ref}: not a commit of this repository"
            return
        self.sha = p.stdout.strip()
        self.short = self.sha[:9]
        self.dir = BUILD / "bench-before" / self.sha
        self.root = self.dir / "src"
        self.path = str(self.dir / "pkg")
        try:
            self._build()
        except Exception as exc:  # reported as "not measured", never fatal
            self.error = f"otas at {self.short} could not be built: {exc}"

    def _build(self):
        stamp = self.dir / ".ready"
        if stamp.exists():
            return
        t0 = time.monotonic()
        log(f"before: building otas at {self.ref} ({self.short}) in {self.dir}")
        if self.root.exists():
            shutil.rmtree(self.root)
        self.root.mkdir(parents=True)
        arch = subprocess.Popen(["git", "-C", str(ROOT), "archive", "--format=tar",
                                 self.sha], stdout=subprocess.PIPE)
        tar = subprocess.run(["tar", "-x", "-C", str(self.root)], stdin=arch.stdout,
                             capture_output=True, text=True)
        arch.stdout.close()
        if arch.wait() != 0 or tar.returncode != 0:
            raise RuntimeError(f"git archive | tar: {tar.stderr.strip()[-300:]}")
        LOGS.mkdir(parents=True, exist_ok=True)
        blog = LOGS / f"before-{self.short}-build.log"
        wheels = self.dir / "wheel"
        shutil.rmtree(wheels, ignore_errors=True)
        # The test venv has the build backend (make build uses it the same
        # way); the before tree's own pyproject.toml says how to build it.
        with open(blog, "wb") as lf:
            p = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q",
                                "--no-build-isolation", "--no-deps",
                                "--disable-pip-version-check", "-w", str(wheels),
                                str(self.root)], stdout=lf, stderr=lf)
        whl = sorted(wheels.glob("otas-*.whl"))
        if p.returncode != 0 or not whl:
            raise RuntimeError(f"pip wheel failed (see {blog})")
        venv = self.dir / "venv"
        vpy = venv / "bin" / "python"
        if not vpy.exists():
            base = getattr(sys, "_base_executable", None) or sys.executable
            subprocess.run([base, "-m", "venv", "--without-pip", str(venv)], check=True)
        with open(blog, "ab") as lf:
            p = subprocess.run([sys.executable, "-m", "pip", "--python", str(vpy),
                                "install", "-q", "--no-deps", "--force-reinstall",
                                "--disable-pip-version-check", str(whl[-1])],
                               stdout=lf, stderr=lf)
        if p.returncode != 0:
            raise RuntimeError(f"pip install into {venv} failed (see {blog})")
        found = subprocess.run([str(vpy), "-c", "import otas, os; "
                                "print(os.path.dirname(otas.__file__))"],
                               capture_output=True, text=True, cwd=str(self.dir),
                               env={"PATH": os.environ.get("PATH", "")})
        if found.returncode != 0:
            raise RuntimeError(f"import otas in {venv}: {found.stderr.strip()[-300:]}")
        pkg = Path(found.stdout.strip())
        link_dir = Path(self.path)
        link_dir.mkdir(parents=True, exist_ok=True)
        link = link_dir / "otas"
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(pkg, target_is_directory=True)
        if not any(pkg.glob("_engine*.so")):
            raise RuntimeError(f"the C engine is not built ({pkg} has no _engine module)")
        self.built_s = time.monotonic() - t0
        stamp.write_text(self.sha + "\n")
        log(f"before: built in {self.built_s:.0f} s")

    def label(self):
        return f"otas at {self.ref} ({self.short})"


_BEFORE = {}


def before_tree(ref=None):
    """The Before of `ref` (default BENCH_BEFORE, else BEFORE_DEFAULT), built
    once per process."""
    ref = ref or os.environ.get("BENCH_BEFORE") or BEFORE_DEFAULT
    if ref not in _BEFORE:
        _BEFORE[ref] = Before(ref)
    return _BEFORE[ref]


def engine_variants(variants):
    """The variants that run the C engine, in run order."""
    return [v for v in variants if v in ("before", "otas")]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def dead_url():
    """A URL nobody listens on: a back end that is down."""
    return f"http://127.0.0.1:{free_port()}"


def _read_line(proc, timeout):
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    try:
        if not sel.select(timeout):
            return None
    finally:
        sel.close()
    return proc.stdout.readline()


class Process:
    """A child that prints 'listening on HOST:PORT' when it is ready."""

    def __init__(self, argv, name, env=None, cpu=None):
        LOGS.mkdir(parents=True, exist_ok=True)
        self.log = LOGS / f"{name}.log"
        with open(self.log, "ab") as errf:
            self.proc = subprocess.Popen(
                argv, stdout=subprocess.PIPE, stderr=errf, stdin=subprocess.DEVNULL,
                env=env, text=True,
                preexec_fn=(lambda: os.sched_setaffinity(0, cpu)) if cpu else None)
        line = _read_line(self.proc, 30) or ""
        if not line.startswith("listening on "):
            self.stop()
            raise RuntimeError(f"{name} did not start: {line!r} (see {self.log})")
        self.port = int(line.strip().rsplit(":", 1)[1])
        self.url = f"http://127.0.0.1:{self.port}"

    def cpu_s(self):
        """CPU seconds (user + system) the process has used so far."""
        try:
            with open(f"/proc/{self.proc.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            return None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def sink_stats(url):
    """{path prefix: [requests, body bytes]} the sink has received."""
    import urllib.request

    try:
        with urllib.request.urlopen(url + "/__stats", timeout=5) as r:
            return json.loads(r.read())
    except Exception:
        return {}


def start_sink():
    return Process([sys.executable, str(BENCH / "sink.py")], "sink")


def collector_binary():
    env = os.environ.get("OTAS_COLLECTOR_BIN")
    if env:
        return env
    found = shutil.which("otas-collector")
    if found:
        return found
    beside = Path(sys.executable).parent / "otas-collector"  # the venv's bin
    if beside.exists():
        return str(beside)
    built = BUILD / "c" / "collector" / "otas-collector"
    return str(built) if built.exists() else None


class Collector(Process):
    """A real otas-collector on a fresh database (init, then serve)."""

    def __init__(self, tmp, cpu=None, extra=()):
        binary = collector_binary()
        if binary is None:
            raise RuntimeError("otas-collector not found (run `make build`)")
        db = Path(tmp) / "otas.db"
        out = subprocess.run([binary, "init", "--db", str(db), "--project", "bench",
                              "--quiet"], capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            raise RuntimeError(f"otas-collector init failed: {out.stderr.strip()}")
        self.key = out.stdout.splitlines()[0].strip()
        super().__init__([binary, "serve", "--db", str(db), "--listen",
                          "127.0.0.1:0", "--quiet", *extra], "collector", cpu=cpu)


class Worker:
    """One variant's process (bench/worker.py under the bench venv)."""

    def __init__(self, python, variant, env, tag="", prefix=()):
        self.variant = variant
        LOGS.mkdir(parents=True, exist_ok=True)
        self.log = LOGS / f"worker-{variant}{tag}.log"
        # env may name the code a variant runs (nostore runs otas's).
        e = {"BENCH_VARIANT": variant, **env,
             "DJANGO_SETTINGS_MODULE": "benchproj.settings"}
        with open(self.log, "wb") as errf:
            self.proc = subprocess.Popen(
                [*prefix, python, str(BENCH / "worker.py")], env=e, text=True,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errf)
        self.ready = None
        self.error = None
        self.setup_s = None
        self.info = {}

    def wait_ready(self, timeout):
        t0 = time.monotonic()
        line = _read_line(self.proc, timeout)
        if not line:
            self.setup_s = time.monotonic() - t0
            self.error = (f"did not start within {timeout:.0f} s" if line is None
                          else f"exited at start-up (see {self.log})")
            self.ready = False
            self.close(kill=True)
            return False
        msg = json.loads(line)
        self.ready = msg["ready"]
        self.setup_s = msg.get("setup_s")
        self.info = msg.get("info", {})
        if not self.ready:
            self.error = msg.get("error")
            self.close(kill=True)
        return self.ready

    def call(self, cmd, timeout=600):
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        line = _read_line(self.proc, timeout)
        if not line:
            raise RuntimeError(f"worker {self.variant} gave no answer (see {self.log})")
        return json.loads(line)

    def close(self, kill=False, wait_s=20):
        if self.proc.poll() is None:
            try:
                if kill:
                    raise OSError
                self.proc.stdin.close()
                self.proc.wait(timeout=wait_s)
            except (OSError, subprocess.TimeoutExpired, ValueError):
                self.proc.kill()
                self.proc.wait()


def median(xs):
    s = sorted(xs)
    n = len(s)
    return (s[n // 2] + s[(n - 1) // 2]) / 2 if n else float("nan")


def pct(xs, q):
    s = sorted(xs)
    return s[min(len(s) - 1, int(len(s) * q))] if s else float("nan")


_TMPDIRS = []


def tmpdir(prefix):
    """A scratch directory (collector databases, spools) removed when the
    bench exits: a full run writes gigabytes, and repeated runs filled a
    disk once.  OTAS_BENCH_KEEP=1 keeps them for a look afterwards."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    _TMPDIRS.append(path)
    return path


@atexit.register
def _remove_tmpdirs():
    if os.environ.get("OTAS_BENCH_KEEP") == "1":
        return
    for path in _TMPDIRS:
        shutil.rmtree(path, ignore_errors=True)
