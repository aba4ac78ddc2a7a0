"""Real traffic for the dashboard tests, sent by the real SDK.

Run as a child process (one SDK runtime per process, pointed at the
collector under test): the Django test project (tests/python/djproject)
with otas.OtasMiddleware, driven by Django's test client.  Prints one
JSON line: how many events the SDK was asked to deliver.

    python sdk_traffic.py <collector url> <sdk key> <spool dir> <agent token>
    python sdk_traffic.py <collector url> <sdk key> <spool dir> --basic

--basic sends test_dashboard.py's three requests (a GET with a bearer
token, a JSON POST with a password, a view that raises).
"""
import base64
import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def bearer(sub):
    """An (unsigned) JWT whose `sub` names the user: the SDK reads it."""
    def part(o):
        return base64.urlsafe_b64encode(json.dumps(o).encode()).rstrip(b"=").decode()
    return "Bearer " + part({"alg": "HS256", "typ": "JWT"}) + "." + part({"sub": sub}) + ".c2ln"


def main():
    url, key, spool, token = sys.argv[1:5]
    os.environ.update({
        "OTAS_SDK_KEY": key, "OTAS_BASE_URL": url, "OTAS_SPOOL_DIR": spool,
        "OTAS_FLUSH_INTERVAL_MS": "50",
        "DJANGO_SETTINGS_MODULE": "djproject.settings",
    })
    if token != "--basic":
        os.environ.update({"OTAS_TAGS": "web,blue", "OTAS_SERVICE_VERSION": "2.4.1"})
    sys.path.insert(0, str(REPO / "tests" / "python"))
    import django
    django.setup()
    from django.conf import settings
    settings.OTAS = {"IDENTIFY_COMPANY": lambda req, resp: req.headers.get("X-Org")}
    from django.test import Client
    import otas

    web = Client(raise_request_exception=False)
    n = 0
    if token == "--basic":
        assert web.get("/api/items/1", HTTP_AUTHORIZATION="Bearer sdk-secret-token").status_code == 200
        assert web.post("/api/items", data=json.dumps({"name": "lamp", "password": "hunter2"}),
                        content_type="application/json",
                        HTTP_AUTHORIZATION="Bearer sdk-secret-token").status_code < 500
        assert web.get("/api/boom").status_code == 500
        assert otas.flush(timeout=15), "the SDK did not deliver in time"
        print(json.dumps({"events": 3}))
        return

    def get(path, **kw):
        nonlocal n
        web.get(path, **kw)
        n += 1

    alice = {"HTTP_AUTHORIZATION": bearer("alice"), "HTTP_X_ORG": "acme"}
    bob = {"HTTP_AUTHORIZATION": bearer("bob"), "HTTP_X_ORG": "globex"}
    for i in range(1, 6):
        get(f"/api/items/{i}", **alice)
    for _ in range(3):
        get("/api/status/401", **bob)        # a burst of 401s
    for _ in range(2):
        get("/api/boom", **bob)              # ValueError -> 500
    for p in ("/wp-admin/setup.php", "/.env", "/phpmyadmin/index.php", "/.git/config"):
        get(p)                               # scanners: no route matched
    web.post("/api/echo", data=json.dumps({"note": "the quick brown fox"}),
             content_type="application/json", **alice)
    n += 1
    agent = {"HTTP_X_OTAS_AGENT_SESSION_TOKEN": token}
    get("/api/items/7", **agent)
    get("/api/status/503", **agent)
    get("/api/items/8", **agent)
    otas.update_user({"user_id": "alice", "company_id": "acme",
                      "metadata": {"email": "alice@acme.example"}})
    otas.update_user({"user_id": "carol", "metadata": {"email": "carol@quiet.example"}})
    # The README's form: the e-mail at the top level, beside the metadata.
    otas.update_user({"user_id": "bob", "company_id": "globex", "email": "bob@globex.example",
                      "metadata": {"plan": "pro"}})
    otas.update_company({"company_id": "acme", "metadata": {"name": "Acme Inc"}})
    assert otas.flush(timeout=15), "the SDK did not deliver in time"
    print(json.dumps({"events": n}))


if __name__ == "__main__":
    main()
