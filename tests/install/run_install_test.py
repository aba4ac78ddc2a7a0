"""The wheel installed as a user would: `make install-test` (part of `make test`).

For Debian 12 (bookworm, Python 3.11) and Debian 13 (trixie, Python 3.13):
  1. a minimal root made by mmdebstrap (python3, python3-venv, ca-certificates;
     no compiler, no -dev package), cached as build/install-test/<suite>.tar;
  2. a wheelhouse (Django, gunicorn) filled on the host by `pip download`
     for that Python, cached too: a second run downloads nothing;
  3. inside the root (chroot, /proc and /dev mounted, always unmounted):
     a venv, `pip install --no-index` of the repaired wheel from dist/ and
     Django; `import otas` maps no collector library; `otas-collector` from
     the wheel; a Django app under gunicorn sending to it, with secrets
     planted in headers, query and body; the host reads the events back
     from the collector's API and the SQLite file: all arrived, redacted;
  4. TLS: a test CA and server certificates made with the openssl CLI; the
     engine delivers with OTAS_CA_BUNDLE naming the test CA, refuses a
     server whose certificate another CA signed (a TLS error, nothing
     delivered), finds a RHEL-layout system bundle
     (/etc/pki/tls/certs/ca-bundle.crt) by itself, and rejects an
     OTAS_CA_BUNDLE that does not exist at start-up.

Run as root (chroot and mount need it).  `--suite bookworm` runs one root.
"""

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
WORK = REPO / "build" / "install-test"
MIRROR = os.environ.get("OTAS_DEBIAN_MIRROR", "http://deb.debian.org/debian")
SUITES = {"bookworm": "3.11", "trixie": "3.13"}
PACKAGES = ["Django>=5.2,<5.3", "gunicorn>=22"]
KEY_HEADER = "X-OTAS-SDK-KEY"
T0 = time.monotonic()
CHROOT = shutil.which("chroot") or "/usr/sbin/chroot"  # the host's, found on the host's PATH


def log(msg):
    print(f"[install-test {time.monotonic() - T0:6.1f}s] {msg}", flush=True)


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, deadline_s=20.0):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise Failure(f"process exited with {proc.returncode} before port {port} opened")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise Failure(f"port {port} did not open in {deadline_s} s")


# ------------------------------------------------------------- caches

def root_tarball(suite):
    tar = WORK / f"{suite}.tar"
    if tar.exists():
        log(f"{suite}: root from cache ({tar.stat().st_size >> 20} MB)")
        return tar
    WORK.mkdir(parents=True, exist_ok=True)
    tmp = WORK / f"{suite}.tar.part"
    log(f"{suite}: mmdebstrap (minbase + python3 python3-venv ca-certificates)")
    subprocess.run(["mmdebstrap", "--variant=minbase", "--format=tar",
                    "--include=python3,python3-venv,ca-certificates",
                    suite, str(tmp), MIRROR], check=True,
                   stdout=subprocess.DEVNULL)
    tmp.rename(tar)
    return tar


def wheelhouse(pyver):
    d = WORK / f"wheelhouse-py{pyver}"
    stamp = d / ".complete"
    if stamp.exists():
        log(f"wheelhouse py{pyver} from cache")
        return d
    d.mkdir(parents=True, exist_ok=True)
    log(f"pip download {' '.join(PACKAGES)} for Python {pyver}")
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--dest", str(d),
                    "--only-binary=:all:", "--python-version", pyver,
                    "--implementation", "cp", "--platform", "manylinux_2_17_x86_64",
                    *PACKAGES], check=True)
    stamp.touch()
    return d


def the_wheel():
    wheels = sorted((REPO / "dist").glob("otas-*-cp311-abi3-manylinux_*.whl"))
    check(len(wheels) == 1, f"want one repaired abi3 wheel in dist/, found {wheels}: "
                            "run `make wheel`")
    return wheels[0]


# --------------------------------------------------------------- root

def mounts_under(path):
    p = str(path)
    out = []
    with open("/proc/self/mounts") as f:
        for line in f:
            mnt = line.split()[1].replace("\\040", " ")
            if mnt == p or mnt.startswith(p + "/"):
                out.append(mnt)
    return sorted(out, key=len, reverse=True)


def umount_all(path):
    for m in mounts_under(path):
        subprocess.run(["umount", "-l", m], check=False)


class Root:
    """An extracted root with /proc and /dev mounted; unmounted on exit."""

    def __init__(self, suite, tar):
        self.suite = suite
        self.tar = tar
        self.path = WORK / f"{suite}-root"

    def __enter__(self):
        umount_all(self.path)  # a killed earlier run
        if self.path.exists():
            subprocess.run(["rm", "-rf", "--one-file-system", str(self.path)], check=True)
        self.path.mkdir(parents=True)
        subprocess.run(["tar", "-C", str(self.path), "-xf", str(self.tar)], check=True)
        try:
            subprocess.run(["mount", "-t", "proc", "proc", str(self.path / "proc")],
                           check=True)
            subprocess.run(["mount", "--bind", "/dev", str(self.path / "dev")], check=True)
        except BaseException:
            umount_all(self.path)
            raise
        return self

    def __exit__(self, *exc):
        umount_all(self.path)
        left = mounts_under(self.path)
        if left:
            print(f"WARNING: still mounted: {left}", file=sys.stderr)

    def host(self, p):
        return self.path / str(p).lstrip("/")

    def env(self, **extra):
        e = {"PATH": "/opt/t/venv/bin:/usr/local/bin:/usr/bin:/bin", "HOME": "/root",
             "LANG": "C.UTF-8"}
        e.update(extra)
        return e

    def run(self, argv, env=None, check_rc=True, timeout=300):
        p = subprocess.run([CHROOT, str(self.path), *argv], env=env or self.env(),
                           capture_output=True, text=True, timeout=timeout)
        if check_rc and p.returncode != 0:
            raise Failure(f"{argv} exited {p.returncode}:\n{p.stdout}\n{p.stderr}")
        return p

    def popen(self, argv, env=None, **kw):
        return subprocess.Popen([CHROOT, str(self.path), *argv], env=env or self.env(),
                                start_new_session=True, **kw)


def stop(proc, timeout=10):
    if proc is None or proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


# ------------------------------------------------------------ the test

def http(method, url, body=None, headers=None, context=None):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10, context=context) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def events(port, key, context=None, scheme="http"):
    st, body = http("GET", f"{scheme}://127.0.0.1:{port}/api/v1/events?limit=100",
                    headers={KEY_HEADER: key}, context=context)
    check(st == 200, f"GET /api/v1/events: {st} {body[:200]!r}")
    return json.loads(body)["events"]


def wait_events(port, key, n, deadline_s=20.0, **kw):
    end = time.monotonic() + deadline_s
    while True:
        ev = events(port, key, **kw)
        if len(ev) >= n or time.monotonic() > end:
            return ev
        time.sleep(0.1)


def bare_and_install(root, pyver, wheel, house):
    # No compiler, no -dev package: what a python:3.x-slim image has.
    p = root.run(["sh", "-c", "command -v cc gcc c99 x86_64-linux-gnu-gcc; "
                  "dpkg-query -W -f '${Package}\\n' | grep -- '-dev$'; true"])
    check(p.stdout.strip() == "", f"root is not bare: {p.stdout!r}")
    p = root.run(["python3", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
    check(p.stdout.strip() == pyver, f"root's Python is {p.stdout.strip()}, want {pyver}")
    t = root.host("/opt/t")
    (t / "dist").mkdir(parents=True)
    shutil.copy2(wheel, t / "dist")
    shutil.copytree(house, t / "wheelhouse")
    shutil.copytree(HERE / "app", t / "app")
    shutil.copy2(HERE / "sdk_send.py", t / "sdk_send.py")
    t0 = time.monotonic()
    root.run(["python3", "-m", "venv", "/opt/t/venv"])
    root.run(["/opt/t/venv/bin/pip", "install", "-q", "--no-index", "--no-cache-dir",
              "--find-links", "/opt/t/wheelhouse", f"/opt/t/dist/{wheel.name}",
              *PACKAGES])
    log(f"{root.suite}: venv + pip install --no-index: {time.monotonic() - t0:.1f} s")
    # The SDK's import maps only what the SDK needs.
    p = root.run(["/opt/t/venv/bin/python", "-c",
                  "import otas, otas._engine, json; "
                  "print(json.dumps([otas.__version__, otas._engine.VERSION, "
                  "sorted({l.split('/')[-1].strip() for l in open('/proc/self/maps') "
                  "if '.so' in l})]))"])
    version, engine_version, libs = json.loads(p.stdout)
    check(version == engine_version, f"otas {version} but engine {engine_version}")
    bad = [lib for lib in libs if re.search(r"microhttpd|libpq|libpgcommon", lib)]
    check(not bad, f"import otas maps the collector's libraries: {bad}")
    check(any(lib.startswith("libcurl-") for lib in libs),
          f"the vendored libcurl is not what the engine loaded: {libs}")
    p = root.run(["/opt/t/venv/bin/otas-collector", "--version"])
    check(p.stdout.strip() == f"otas-collector {version}",
          f"otas-collector --version: {p.stdout!r}, want {version}")
    return version


def capture_redacted(root):
    """Django under gunicorn -> otas-collector, both from the wheel."""
    p = root.run(["/opt/t/venv/bin/otas-collector", "init", "--quiet", "--db",
                  "/opt/t/otas.db", "--project", "Install test"])
    # --quiet: the ingest key (the app's), the project id, the read key (queries).
    key, _, read_key = (ln.strip() for ln in p.stdout.splitlines()[:3])
    cport, aport = free_port(), free_port()
    collector = app = None
    secret = "planted-" + secrets.token_hex(12)
    try:
        collector = root.popen(["/opt/t/venv/bin/otas-collector", "serve", "--db",
                                "/opt/t/otas.db", "--listen", f"127.0.0.1:{cport}",
                                "--quiet"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_port(cport, collector)
        env = root.env(OTAS_SDK_KEY=key, OTAS_BASE_URL=f"http://127.0.0.1:{cport}",
                       DJANGO_SETTINGS_MODULE="installapp.settings")
        app = root.popen(["/opt/t/venv/bin/gunicorn", "--chdir", "/opt/t/app", "-w", "1",
                          "-b", f"127.0.0.1:{aport}", "installapp.wsgi"], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_port(aport, app)
        base = f"http://127.0.0.1:{aport}"
        planted = {"Authorization": f"Bearer {secret}", "X-Planted-Secret": secret,
                   "Cookie": f"sessionid={secret}"}
        st, body = http("GET", f"{base}/api/items/7", headers=planted)
        check(st == 200 and json.loads(body)["id"] == 7, f"GET item: {st} {body!r}")
        st, body = http("POST", f"{base}/api/items", headers={
            **planted, "Content-Type": "application/json"},
            body=json.dumps({"name": "w", "password": secret}).encode())
        check(st == 201, f"POST item: {st} {body!r}")
        st, body = http("GET", f"{base}/api/search?q=bolts&token={secret}", headers=planted)
        check(st == 200, f"GET search: {st} {body!r}")
        ev = wait_events(cport, read_key, 3)
        check(len(ev) == 3, f"{len(ev)} events arrived, want 3: {ev}")
        by_path = {e["path"]: e for e in ev}
        check(set(by_path) == {"/api/items/7", "/api/items", "/api/search"},
              f"paths {sorted(by_path)}")
        check(by_path["/api/items"]["status_code"] == 201, "POST status")
        blob = json.dumps(ev)
        check(secret not in blob, "a planted secret reached the collector's API")
        for e in ev:
            h = e["request_headers"]
            h = json.loads(h) if isinstance(h, str) else h
            for name in ("authorization", "x-planted-secret", "cookie"):
                check(name in h and h[name] != planted.get(name.title(), secret),
                      f"{name} missing or not redacted in {e['path']}: {h.get(name)!r}")
        stop(app)
        app = None
        stop(collector)
        collector = None
        raw = b"".join(f.read_bytes() for f in root.host("/opt/t").glob("otas.db*"))
        check(secret.encode() not in raw, "a planted secret is in the SQLite file")
        with sqlite3.connect(root.host("/opt/t/otas.db")) as db:
            tables = [r[0] for r in db.execute("select name from sqlite_master "
                                              "where type='table'")]
        log(f"{root.suite}: 3 events arrived redacted (tables: {len(tables)})")
    finally:
        for p in (app, collector):
            stop(p)


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def make_certs(d):
    """ca (right) and other-ca, each signing a 127.0.0.1 server cert."""
    d.mkdir(parents=True, exist_ok=True)
    ext = d / "san.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                   "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
                   "extendedKeyUsage=serverAuth\n")
    for ca in ("ca", "other-ca"):
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                "-subj", f"/CN=OTAS install test {ca}", "-keyout", str(d / f"{ca}.key"),
                "-out", str(d / f"{ca}.pem"))
        srv = d / f"server-{ca}"
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
                "-keyout", f"{srv}.key", "-out", f"{srv}.csr")
        openssl("x509", "-req", "-in", f"{srv}.csr", "-CA", str(d / f"{ca}.pem"),
                "-CAkey", str(d / f"{ca}.key"), "-CAcreateserial", "-days", "2",
                "-extfile", str(ext), "-out", f"{srv}.pem")


def collector_has_tls(root):
    p = root.run(["/opt/t/venv/bin/otas-collector", "serve", "--help"], check_rc=False)
    return "--tls-cert" in (p.stdout + p.stderr)


class TlsBackend:
    """otas-collector from the wheel, serving HTTPS with one of the certs."""

    def __init__(self, root, which):
        self.root, self.which = root, which
        self.proc = None

    def __enter__(self):
        r, w = self.root, self.which
        cert, key = f"/opt/t/tls/server-{w}.pem", f"/opt/t/tls/server-{w}.key"
        db = f"/opt/t/tls-{w}.db"
        for f in r.host("/opt/t").glob(f"tls-{w}.db*"):  # an earlier backend's
            f.unlink()
        p = r.run(["/opt/t/venv/bin/otas-collector", "init", "--quiet", "--db", db,
                   "--project", "TLS"])
        self.key, _, self.read_key = (ln.strip() for ln in p.stdout.splitlines()[:3])
        self.port = free_port()
        self.proc = r.popen(["/opt/t/venv/bin/otas-collector", "serve", "--db", db,
                             "--listen", f"127.0.0.1:{self.port}", "--tls-cert", cert,
                             "--tls-key", key, "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_port(self.port, self.proc)
        return self

    def received(self):
        # The host reads back with the CA that signed this server's cert.
        ctx = ssl.create_default_context(
            cafile=str(self.root.host(f"/opt/t/tls/{self.which}.pem")))
        return [e["path"] for e in events(self.port, self.read_key, context=ctx,
                                          scheme="https")]

    def __exit__(self, *exc):
        stop(self.proc)


def sdk_send(root, backend, n, **env):
    e = root.env(OTAS_SDK_KEY=backend.key, OTAS_BASE_URL=f"https://127.0.0.1:{backend.port}",
                 **env)
    p = root.run(["/opt/t/venv/bin/python", "/opt/t/sdk_send.py", str(n)], env=e)
    return json.loads(p.stdout)


def tls(root, certs):
    shutil.copytree(certs, root.host("/opt/t/tls"))
    check(collector_has_tls(root), "otas-collector serve has no --tls-cert")
    ca = "/opt/t/tls/ca.pem"
    with TlsBackend(root, "ca") as b:
        r = sdk_send(root, b, 3, OTAS_CA_BUNDLE=ca)
        check(r["auth"]["ok"] and r["sent"] == 3 and r["flushed"], f"right CA: {r}")
        check(sorted(b.received()) == ["/tls/0", "/tls/1", "/tls/2"],
              f"right CA: backend got {b.received()}")
    with TlsBackend(root, "other-ca") as b:
        r = sdk_send(root, b, 3, OTAS_CA_BUNDLE=ca)
        check(not r["auth"]["ok"] and r["sent"] == 0, f"wrong CA delivered: {r}")
        tls_words = re.compile(r"certificate|SSL|TLS", re.I)
        check(tls_words.search(r["auth"]["message"] or "") and
              tls_words.search(r["last_error"] or ""),
              f"wrong CA: failure is not reported as a TLS error: {r}")
        check(b.received() == [], f"wrong CA: backend got {b.received()}")
    # A RHEL-family layout: no /etc/ssl/certs, the bundle where RHEL keeps
    # it, holding the test CA.  No OTAS_CA_BUNDLE: the engine must find it.
    certs_dir = root.host("/etc/ssl/certs")
    certs_dir.rename(root.host("/etc/ssl/certs.debian"))
    pki = root.host("/etc/pki/tls/certs")
    pki.mkdir(parents=True)
    shutil.copy2(certs / "ca.pem", pki / "ca-bundle.crt")
    try:
        with TlsBackend(root, "ca") as b:
            r = sdk_send(root, b, 2)
            check(r["auth"]["ok"] and r["sent"] == 2, f"RHEL layout: {r}")
    finally:
        shutil.rmtree(root.host("/etc/pki"))
        root.host("/etc/ssl/certs.debian").rename(certs_dir)
    r = sdk_send(root, b, 1, OTAS_CA_BUNDLE="/opt/t/tls/missing.pem")
    check("OTAS_CA_BUNDLE" in r.get("config_error", ""), f"missing bundle: {r}")
    log(f"{root.suite}: TLS ok against otas-collector --tls-cert: right CA delivers, wrong CA refused "
        "(TLS error, 0 delivered), RHEL-layout bundle found, missing bundle refused")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--suite", action="append", choices=sorted(SUITES))
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("install-test: needs root (chroot, mount)")
    wheel = the_wheel()
    log(f"wheel {wheel.name} ({wheel.stat().st_size / 1e6:.1f} MB)")
    certs = WORK / "tls"
    shutil.rmtree(certs, ignore_errors=True)
    make_certs(certs)
    results = {}
    for suite in args.suite or list(SUITES):
        t0 = time.monotonic()
        pyver = SUITES[suite]
        tar, house = root_tarball(suite), wheelhouse(pyver)
        with Root(suite, tar) as root:
            version = bare_and_install(root, pyver, wheel, house)
            capture_redacted(root)
            tls(root, certs)
        results[suite] = dict(python=pyver, version=version,
                              seconds=round(time.monotonic() - t0, 1))
        log(f"{suite}: passed in {results[suite]['seconds']} s")
    print(json.dumps(results, indent=1))
    log(f"all passed in {time.monotonic() - T0:.1f} s")


if __name__ == "__main__":
    try:
        main()
    except Failure as e:
        print(f"install-test FAILED: {e}", file=sys.stderr)
        sys.exit(1)
