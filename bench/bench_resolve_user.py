"""What OTAS_RESOLVE_USER=1 costs on a request whose view never touched
request.user: OTAS evaluates Django's lazy user after the view (one session
load and one user query), where the default reads it only when it was
already evaluated.  Times otas.middleware._user_id alone, on a logged-in
session, against SQLite in memory (a networked database adds two round
trips).  Prints a table.

    .venv/bin/python bench/bench_resolve_user.py [--rounds 2000]
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2000)
    args = ap.parse_args()
    sys.path[:0] = [str(ROOT / "tests" / "python")]
    os.environ["DJANGO_SETTINGS_MODULE"] = "djproject.settings"
    os.environ["OTAS_ENABLED"] = "0"
    import djproject.settings as s

    s.INSTALLED_APPS = s.INSTALLED_APPS + ["django.contrib.sessions"]
    import django

    django.setup()
    from django.contrib.auth.middleware import AuthenticationMiddleware
    from django.contrib.auth.models import User
    from django.contrib.sessions.middleware import SessionMiddleware
    from django.core.management import call_command
    from django.test import Client, RequestFactory

    from otas.middleware import _user_id

    call_command("migrate", verbosity=0)
    user = User.objects.create_user("alice", password="x")
    client = Client()
    client.force_login(user)
    key = client.session.session_key
    rf = RequestFactory()
    sm, am = SessionMiddleware(lambda r: None), AuthenticationMiddleware(lambda r: None)

    def one(resolve):
        r = rf.get("/x")
        r.COOKIES["sessionid"] = key
        sm.process_request(r)
        am.process_request(r)
        t = time.perf_counter_ns()
        _user_id(r, "username", resolve)
        return time.perf_counter_ns() - t

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip()
    print(f"commit {commit}, {os.cpu_count()} CPUs, {args.rounds} rounds")
    print(f"{'OTAS_RESOLVE_USER':<18} {'median µs':>10} {'p90 µs':>10}")
    for resolve in (False, True):
        ts = sorted(one(resolve) for _ in range(args.rounds))
        print(f"{int(resolve):<18} {ts[len(ts) // 2] / 1000:>10.2f} "
              f"{ts[int(len(ts) * 0.9)] / 1000:>10.2f}")


if __name__ == "__main__":
    main()
