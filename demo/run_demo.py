"""make demo: otas-collector + the demo shop API under gunicorn + traffic.

1. `otas-collector init` creates a database and a project and prints its
   ingest key (for the app) and read key (for the dashboard).
2. `otas-collector serve` listens on a free port on 127.0.0.1.
3. The demo Django app runs under gunicorn (2 workers, --preload) with
   "otas.OtasMiddleware" in MIDDLEWARE, pointed at the collector.
4. Traffic: an AI agent's session (carrying its X-OTAS-Agent-Session-Token),
   ordinary users, and a few errors.  Each user signs its requests with a
   JWT (`Authorization: Bearer ...`) whose `sub` claim OTAS records as the
   user id, and names its company in `X-Org` (the app's IDENTIFY_COMPANY
   hook); a successful login sends otas.update_user() (e-mail, company).
5. Waits until the collector holds every request, then prints what it
   received per endpoint and how to look further.

DEMO_KEEP=1 keeps both servers running until Ctrl-C.
"""

import base64
import hashlib
import hmac
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".demo"
BIN = Path(sys.executable).parent


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(*args):
    return subprocess.run([str(BIN / "otas-collector"), *args], check=True,
                          capture_output=True, text=True).stdout


def wait_until(fn, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if fn():
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"demo: timed out waiting for {what}")


def http(method, url, body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json",
                                          **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            r.read()
            return r.status
    except urllib.error.HTTPError as e:
        e.read()
        return e.code


def query(base, key, path):
    req = urllib.request.Request(base + path, headers={"X-OTAS-SDK-KEY": key})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


# The demo's users: nine people of three companies.
COMPANIES = ("acme", "globex", "initech")
JWT_SECRET = b"demo-jwt-signing-key"  # the demo app's own; OTAS never sees it


def _b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def user_jwt(user_id, company):
    """An HS256 JWT for user_id, as the shop's auth service would issue it.
    OTAS reads its payload's `sub` (OTAS_AUTHORIZATION_USER_ID_FIELD) and
    never stores the token: the Authorization header is redacted."""
    head = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64url(json.dumps({"sub": user_id, "org": company,
                               "iat": 1764633600}).encode())
    sig = hmac.new(JWT_SECRET, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64url(sig)}"


def demo_user(i):
    k = i % 9
    return f"user-{k}", COMPANIES[k % 3]


def traffic(app, token):
    """The requests of one demo run, as (method, path, body, headers)."""
    rnd = random.Random(7)
    agent = {"X-OTAS-Agent-Session-Token": token,
             "User-Agent": "research-bot/1.0 (AI agent)"}
    reqs = []
    # The agent's session: a purposeful sequence.
    reqs += [("GET", "/api/search?q=product+1", None, agent),
             ("GET", "/api/products/12", None, agent),
             ("GET", "/api/products/14", None, agent),
             ("POST", "/api/orders", {"product_id": 12, "qty": 2,
                                      "card": {"number": "4111111111111111"}}, agent),
             ("GET", "/api/orders/1", None, agent),
             ("POST", "/api/orders", {"product_id": 13, "qty": 1}, agent)]
    # Ordinary users browsing.
    for i in range(150):
        uid, org = demo_user(i)
        user = {"User-Agent": "Mozilla/5.0", "Authorization": f"Bearer {user_jwt(uid, org)}",
                "X-Org": org}
        r = rnd.random()
        if r < 0.35:
            reqs.append(("GET", f"/api/products/{rnd.randint(1, 45)}", None, user))
        elif r < 0.55:
            reqs.append(("GET", "/api/products", None, user))
        elif r < 0.75:
            reqs.append(("GET", f"/api/search?q={rnd.choice(['1', '2', 'duct', 'x'])}",
                         None, user))
        elif r < 0.85:
            reqs.append(("POST", "/api/login",
                         {"username": uid, "password": rnd.choice(
                             ["correct horse", "hunter2"])}, user))
        elif r < 0.95:
            reqs.append(("POST", "/api/orders",
                         {"product_id": rnd.randint(1, 44), "qty": 1}, user))
        else:
            reqs.append(("GET", "/api/reports/export", None, user))
    return reqs


def _stop(signum, frame):
    # SIGTERM's default action would end this process without the finally
    # below, leaving the collector and gunicorn behind.
    raise SystemExit(128 + signum)


def main():
    signal.signal(signal.SIGTERM, _stop)
    keep = os.environ.get("DEMO_KEEP") == "1"
    if WORK.exists():
        shutil.rmtree(WORK)
    WORK.mkdir()
    db = WORK / "otas.db"
    # --key-only: the ingest key (for the app), the project id, the read
    # key (for the dashboard and the query API)
    key, _, read_key = run("init", "--db", str(db), "--project", "Demo Shop API",
                           "--key-only").strip().splitlines()[:3]
    project_id = json.loads(run("project", "list", "--db", str(db), "--json"))[0]["id"]
    token = run("agent-session", "create", "--db", str(db), "--project", project_id,
                "--agent", "research-bot").strip().splitlines()[0]

    cport, aport = free_port(), free_port()
    curl = f"http://127.0.0.1:{cport}"
    procs = []
    log = open(WORK / "servers.log", "w")
    try:
        procs.append(subprocess.Popen(
            [str(BIN / "otas-collector"), "serve", "--db", str(db), "--listen",
             f"127.0.0.1:{cport}"], stdout=log, stderr=log))
        wait_until(lambda: urllib.request.urlopen(curl + "/healthz", timeout=1),
                   15, "otas-collector")
        env = dict(os.environ, OTAS_SDK_KEY=key, OTAS_BASE_URL=curl,
                   OTAS_SPOOL_DIR=str(WORK / "spool"),
                   DJANGO_SETTINGS_MODULE="demoapp.settings",
                   PYTHONPATH=str(ROOT / "demo"))
        app = f"http://127.0.0.1:{aport}"
        procs.append(subprocess.Popen(
            [str(BIN / "gunicorn"), "--preload", "-w", "2", "--threads", "4",
             "-b", f"127.0.0.1:{aport}", "demoapp.wsgi:application"],
            env=env, stdout=log, stderr=log))
        wait_until(lambda: urllib.request.urlopen(app + "/health", timeout=1),
                   30, "the demo app")
        print(f"otas-collector on {curl}, demo shop API on {app} (gunicorn, 2 workers)")

        reqs = traffic(app, token)
        t0 = time.monotonic()
        with ThreadPoolExecutor(6) as ex:
            statuses = list(ex.map(
                lambda r: http(r[0], app + r[1], r[2], r[3]), reqs))
        took = time.monotonic() - t0
        sent = len(reqs) + 1  # + the health probe
        errors = sum(1 for s in statuses if s >= 500)
        print(f"sent {len(reqs)} requests in {took:.1f}s "
              f"({errors} answered 5xx on purpose)")

        def all_there():
            # pages of at most 1,000 events: count through the cursor
            n, cursor = 0, ""
            while True:
                page = query(curl, read_key, "/api/v1/events?limit=1000" + cursor)
                n += len(page["events"])
                if not page.get("next"):
                    return n >= sent
                cursor = "&cursor=" + page["next"]
        wait_until(all_there, 30, "every request to reach the collector")

        stats = query(curl, read_key, "/api/v1/stats/endpoints")
        rows = stats.get("endpoints", stats if isinstance(stats, list) else [])
        print()
        print(f"What otas-collector received ({sent} events):")
        print(f"  {'endpoint':<34}{'requests':>9}{'p50 ms':>9}{'p95 ms':>9}{'errors':>8}")
        for r in sorted(rows, key=lambda r: -r["count"]):
            ep = f"{r['method']} {r['route']}"
            print(f"  {ep:<34}{r['count']:>9}{r['p50_latency_ms']:>9.1f}"
                  f"{r['p95_latency_ms']:>9.1f}{r['errors']:>8}")
        sessions = query(curl, read_key, "/api/v1/agent-sessions").get("sessions", [])
        for s in sessions:
            print(f"\nAgent session {s['agent_session_id']} (agent {s.get('agent_id')}, "
                  f"{'verified' if s.get('verified') else 'unverified'}): "
                  f"{s['events']} calls, {s['errors']} "
                  f"{'error' if s['errors'] == 1 else 'errors'}")
        ev = query(curl, read_key, "/api/v1/events?limit=500")["events"]
        card = [e for e in ev if e["path"] == "/api/orders" and e["method"] == "POST"
                and "card" in (e.get("request_body") or "")]
        if card:
            print(f"  a card number as stored: {card[0]['request_body']}")
        users = query(curl, read_key, "/api/v1/stats/users").get("users", [])
        companies = query(curl, read_key, "/api/v1/stats/companies").get("companies", [])
        if users:
            print(f"\nUsers ({len(users)}, from their JWT's sub claim) of "
                  f"{len(companies)} companies (from X-Org, IDENTIFY_COMPANY):")
            for u in sorted(users, key=lambda u: (-u["requests"], u["id"]))[:3]:
                email = ((u.get("entity") or {}).get("email")) or "no login yet"
                print(f"  {u['id']:<8} {u.get('company_id') or '-':<8} "
                      f"{u['requests']:>3} requests, {u['errors']} errors, {email}")
        print()
        print("Look further:")
        print(f"  dashboard:  {curl}/   (paste the read key below to sign in)")
        print(f"  read key:   {read_key}")
        print(f"  ingest key: {key}   (what the app holds, as OTAS_SDK_KEY)")
        print(f"  events:     curl -H 'X-OTAS-SDK-KEY: {read_key}' '{curl}/api/v1/events?limit=5'")
        print(f"  database:   sqlite3 {db}")
        if keep:
            print("\nDEMO_KEEP=1: both servers keep running; Ctrl-C stops them.")
            # sigwait only takes blocked signals; unblocked, SIGTERM would
            # run its handler (or kill us) instead of returning here.
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
            signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        for p in reversed(procs):
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
        log.close()


if __name__ == "__main__":
    main()
