"""Options and hooks on the async Django path (AsyncClient: the
middleware in async mode), checked in what a real otas-collector stored."""

import pytest

from migrate_support import events_with, q_has, run_django

pytestmark = pytest.mark.usefixtures("collector")

ASYNC_IDENTITY_SETTINGS = """
s.INSTALLED_APPS = s.INSTALLED_APPS + ["django.contrib.sessions"]
s.MIDDLEWARE = ["otas.OtasMiddleware",
                "django.contrib.sessions.middleware.SessionMiddleware",
                "django.contrib.auth.middleware.AuthenticationMiddleware",
                "django.middleware.common.CommonMiddleware"]
s.OTAS.update({"USER_ID_FIELD": "username", "RESOLVE_USER": True})
"""

ASYNC_IDENTITY_BODY = """
R = os.environ["RID"]
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.contrib.auth.models import User
from django.test import AsyncClient
import asyncio
u = User.objects.create_user("bob-" + R, password="x")
c = AsyncClient()
c.force_login(u)

async def go():
    r = await c.get("/api/untouched-user", {"rid": R})
    return r.status_code
out["untouched"] = asyncio.run(go())
"""


def test_resolve_user_on_the_async_path(collector, tmp_path):
    """OTAS_RESOLVE_USER=1 evaluates a request.user the view never touched,
    also when the middleware runs async (ASGI)."""
    rid = str(__import__("random").randrange(10**8, 10**9))
    p, res = run_django(collector, tmp_path, "http://127.0.0.1:9",
                        ASYNC_IDENTITY_SETTINGS, ASYNC_IDENTITY_BODY,
                        env={"RID": rid,
                             # a file: the view's thread and the event loop's
                             # must see one database (":memory:" is one per
                             # connection)
                             "DJPROJECT_DB": str(tmp_path / "db.sqlite3")})
    assert res["untouched"] == 200
    ev = events_with(collector, lambda e: e["path"] == "/api/untouched-user"
                     and q_has(e, "rid", rid))[0]
    assert ev["metadata"].get("user_id") == "bob-" + rid, p.stderr[-2000:]


AUSER_SETTINGS = ASYNC_IDENTITY_SETTINGS.replace(
    '"USER_ID_FIELD": "username", "RESOLVE_USER": True', '"RESOLVE_USER": False')

AUSER_BODY = """
R = os.environ["RID"]
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.contrib.auth.models import User
from django.test import AsyncClient
import asyncio
u = User.objects.create_user("carol-" + R, password="x")
out["pk"] = u.pk
c = AsyncClient()
c.force_login(u)

async def go():
    r = await c.get("/api/async-touched-user", {"rid": R})
    return r.json()
out["touched"] = asyncio.run(go())
"""


def test_user_of_an_async_view_that_awaited_auser(collector, tmp_path):
    """An async view that authenticated with `await request.auser()` (the
    user is known, so it is recorded without OTAS_RESOLVE_USER)."""
    rid = str(__import__("random").randrange(10**8, 10**9))
    p, res = run_django(collector, tmp_path, "http://127.0.0.1:9",
                        AUSER_SETTINGS, AUSER_BODY,
                        env={"RID": rid,
                             "DJPROJECT_DB": str(tmp_path / "db.sqlite3")})
    assert res["touched"] == {"user": "carol-" + rid}
    ev = events_with(collector, lambda e: e["path"] == "/api/async-touched-user"
                     and q_has(e, "rid", rid))[0]
    assert ev["metadata"].get("user_id") == str(res["pk"]), p.stderr[-2000:]
