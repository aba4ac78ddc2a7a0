"""The dashboard in a real browser against a real otas-collector.

Selenium (PyPI) drives Debian's headless ``chromium`` through Debian's
``chromium-driver`` at /usr/bin/chromedriver, given explicitly so Selenium
Manager never downloads a browser or a driver (SE_OFFLINE as a second lock).

The collector is the real binary with the dashboard compiled in (the test
checks the served files equal collector/dashboard/*, so a stale build fails
with a clear message).  It is filled with events in the PROTOCOL.md shape:

    EVENT_SOURCE = os.environ.get("OTAS_DASHBOARD_EVENT_SOURCE", "batch")

``batch`` posts them to POST /api/v1/backend/log/sdk/batch/ (PROTOCOL.md §3);
``sdk`` is the switch for the lead to send the same traffic through a real
Django app with the SDK once ``import otas`` works in the venv (see
fill_via_sdk below; it skips until then).

Every number the page shows is compared with the query API's answer for the
same thing.  Screenshots of each view at 1440x900 and 390x844 go to the
test's tmp directory and are copied to build/dashboard-screenshots/.

Run:  .venv/bin/python -m pytest tests/dashboard -q
      (OTAS_COLLECTOR_BIN=... to pick the binary; default build/c/collector/otas-collector)
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote

import pytest

from otas_testing.collector import Collector, find_collector_binary

selenium = pytest.importorskip("selenium")
from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import (  # noqa: E402
    NoSuchElementException, StaleElementReferenceException, WebDriverException)
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
DASHBOARD_SRC = REPO / "collector" / "dashboard"
SHOTS_COPY = REPO / "build" / "dashboard-screenshots"
CHROMIUM = os.environ.get("OTAS_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("OTAS_CHROMEDRIVER", "/usr/bin/chromedriver")
EVENT_SOURCE = os.environ.get("OTAS_DASHBOARD_EVENT_SOURCE", "batch")
WAIT = 15.0

DESKTOP = (1440, 900)
PHONE = (390, 844)

if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
    pytest.skip("needs Debian's chromium and chromium-driver "
                "(apt-get install -y chromium chromium-driver)", allow_module_level=True)


# ---- events ---------------------------------------------------------------

def uuid7(ms: int) -> str:
    """A UUIDv7 (RFC 9562) for Unix time ``ms``: what the engine generates."""
    rand = int.from_bytes(secrets.token_bytes(10), "big")
    v = (ms & ((1 << 48) - 1)) << 80
    v |= 0x7 << 76
    v |= (rand >> 68 & 0xFFF) << 64
    v |= 0b10 << 62
    v |= rand & ((1 << 62) - 1)
    return str(uuid.UUID(int=v))


def rfc3339(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event(t: datetime, method: str, path: str, route: str, status: int,
          latency: float, **kw) -> dict:
    ms = int(t.timestamp() * 1000)
    meta = {"route": route, "event_id": uuid7(ms), "timestamp": rfc3339(t),
            "sdk": "otas-python/test", "direction": "incoming",
            "host": "shop.example"}
    meta.update(kw.pop("metadata", {}))
    ev = {
        "project_id": "ignored", "path": path, "method": method,
        "status_code": status, "latency_ms": latency,
        "request_size_bytes": 0, "response_size_bytes": 2,
        "request_headers": json.dumps({"accept": "application/json",
                                       "user-agent": "pytest"}),
        "response_headers": json.dumps({"content-type": "application/json"}),
        "request_body": "", "response_body": "{}", "query_params": "{}",
        "post_data": "{}", "request_content_type": "",
        "response_content_type": "application/json", "custom_properties": {},
        "error": "", "agent_session_token": "", "metadata": meta,
    }
    ev.update(kw)
    return ev


XSS_PATH = '/api/items/"><img src=x onerror="window.__xss=1">'
XSS_BODY = '<script>window.__xss=2</script><img src=x onerror="window.__xss=3">'


def build_traffic(now: datetime, token: str) -> dict:
    """The traffic: 4 endpoints over 7 days, errors, a request with secrets
    redacted by the SDK and an outgoing call, an agent session, and an event
    whose path, headers and body try to run script in the dashboard."""
    evs = []
    # Latencies avoid .x5 so that rounding to one decimal never ties.
    for d in range(7):
        day = now - timedelta(days=d)
        for i in range(6 + d % 3):
            evs.append(event(day - timedelta(seconds=60 + i * 7), "GET",
                             f"/api/items/{i + 1}", "api/items/<int:pk>", 200,
                             3.1 + 4.3 * i + d * 1.7))
        evs.append(event(day - timedelta(seconds=300), "GET", "/api/health/",
                         "api/health/", 200, 0.4 + d * 0.1))
        if d % 2 == 0:
            evs.append(event(day - timedelta(seconds=400), "DELETE",
                             f"/api/items/{d + 10}", "api/items/<int:pk>", 500,
                             120.3 + d, error="IntegrityError: still referenced"))
    evs.append(event(now - timedelta(days=1, seconds=30), "GET", "/api/items/99",
                     "api/items/<int:pk>", 404, 2.2))

    # A login whose secrets the SDK redacted, with an outgoing call.
    t_login = now - timedelta(seconds=90)
    login = event(
        t_login, "POST", "/api/login/", "api/login/", 502, 812.6,
        request_headers=json.dumps({"authorization": "[REDACTED]",
                                    "cookie": "[REDACTED]",
                                    "content-type": "application/json",
                                    "user-agent": "shop-web/2.1"}),
        request_body=json.dumps({"username": "alice", "password": "[REDACTED]"}),
        request_content_type="application/json",
        response_body=json.dumps({"detail": "payment gateway timed out",
                                  "token": "[REDACTED]"}),
        query_params=json.dumps({"next": ["/cart"], "api_key": ["[REDACTED]"]}),
        error="GatewayTimeout: upstream took too long",
        metadata={"errors": [{"type": "GatewayTimeout",
                              "message": "upstream took too long",
                              "stack": "Traceback (most recent call last):\n"
                                       '  File "shop/views.py", line 42, in login\n'
                                       "    charge = gateway.charge(order)\n"
                                       "GatewayTimeout: upstream took too long"}],
                  "client_ip": "203.0.113.7"})
    login_id = login["metadata"]["event_id"]
    outgoing = event(t_login + timedelta(milliseconds=15), "POST", "/v1/charges",
                     "/v1/charges", 504, 790.1,
                     metadata={"direction": "outgoing",
                               "parent_event_id": login_id,
                               "host": "payments.example"})
    evs += [login, outgoing]

    # An agent session: what research-bot did, step by step.
    t0 = now - timedelta(minutes=20)
    steps = [("GET", "/api/items/", "api/items/", 200, 12.3),
             ("GET", "/api/items/7", "api/items/<int:pk>", 200, 6.6),
             ("POST", "/api/cart/", "api/cart/", 201, 18.9),
             ("POST", "/api/checkout/", "api/checkout/", 500, 230.7)]
    session_ids = []
    for n, (m, p, r, st, lat) in enumerate(steps):
        e = event(t0 + timedelta(seconds=n * 11), m, p, r, st, lat,
                  agent_session_token=token,
                  error="ValueError: card declined" if st >= 500 else "")
        session_ids.append(e["metadata"]["event_id"])
        evs.append(e)

    xss = event(now - timedelta(seconds=45), "GET", XSS_PATH, XSS_PATH, 400, 1.3,
                request_headers=json.dumps({"x-evil": XSS_BODY}),
                response_body=XSS_BODY, error=XSS_BODY,
                metadata={"errors": [{"type": "<b>Bold</b>", "message": XSS_BODY,
                                      "stack": XSS_BODY}]})
    evs.append(xss)
    return {"events": evs, "login_id": login_id,
            "outgoing_id": outgoing["metadata"]["event_id"],
            "xss_id": xss["metadata"]["event_id"], "session_ids": session_ids}


def fill_via_batch(c: Collector, traffic: dict) -> None:
    evs = traffic["events"]
    for i in range(0, len(evs), 50):
        r = c.send_batch(evs[i:i + 50])
        assert r.status == 200, r
        assert r.json()["accepted"] == len(evs[i:i + 50]), r.json()


def fill_via_sdk(c: Collector, traffic: dict) -> None:
    """SWITCH (OTAS_DASHBOARD_EVENT_SOURCE=sdk): real requests through the
    Django test project (tests/python/djproject) with the SDK installed in
    the venv, on top of the batch history (seven days of traffic, the
    outgoing-call link and the hostile event, which a live app cannot date
    in the past).  test_sdk_event_in_browser then opens one of them."""
    try:
        import django  # noqa: F401
        import otas  # noqa: F401
    except ImportError:
        pytest.skip("OTAS_DASHBOARD_EVENT_SOURCE=sdk needs `import otas` (pip install .)")
    fill_via_batch(c, traffic)
    spool = c.tmp_dir / "sdk-spool"
    spool.mkdir(exist_ok=True)
    before = len(c.events())
    # A child process: one SDK runtime per process, pointed at this
    # module's collector (another test module may have started its own).
    r = subprocess.run([sys.executable, str(Path(__file__).with_name("sdk_traffic.py")),
                        c.url, c.key, str(spool), "--basic"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    got = c.wait_for_events(before + 3, timeout=15)
    assert len(got) == before + 3, "the SDK did not deliver its 3 events"
    traffic["sdk_events"] = 3


# ---- fixtures ---------------------------------------------------------------

@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    d = tmp_path_factory.mktemp("dashboard-screenshots")
    yield d
    SHOTS_COPY.mkdir(parents=True, exist_ok=True)
    for f in d.glob("*.png"):
        shutil.copy2(f, SHOTS_COPY / f.name)


@pytest.fixture(scope="module")
def collector(tmp_path_factory):
    c = Collector(tmp_path_factory.mktemp("collector"), binary=find_collector_binary())
    c.start(extra_args=["--quiet"])
    yield c
    c.stop()


@pytest.fixture(scope="module")
def traffic(collector):
    now = datetime.now(timezone.utc)
    if now.hour == 23 and now.minute >= 50:  # keep "today" one day for the whole run
        pytest.skip("too close to midnight UTC for per-day numbers")
    token = collector.agent_session("research-bot")
    t = build_traffic(now, token)
    (fill_via_sdk if EVENT_SOURCE == "sdk" else fill_via_batch)(collector, t)
    t["session"] = collector.get("/api/v1/agent-sessions").json()["sessions"][0]
    return t


@pytest.fixture(scope="module")
def driver():
    os.environ.setdefault("SE_OFFLINE", "true")
    os.environ.setdefault("SE_AVOID_STATS", "true")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
              "--disable-gpu", "--no-first-run", "--no-default-browser-check",
              "--disable-extensions", "--disable-background-networking",
              "--disable-component-update", "--disable-sync",
              "--force-device-scale-factor=1", "--hide-scrollbars",
              "--window-size=1440,900", "--lang=en-US"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    d.set_page_load_timeout(30)
    try:
        yield d
    finally:
        d.quit()


# ---- helpers -----------------------------------------------------------------

def wait(driver, cond, what, timeout=WAIT):
    try:
        # The page re-renders while we look: a node read mid-swap is stale.
        return WebDriverWait(driver, timeout, poll_frequency=0.05,
                             ignored_exceptions=(StaleElementReferenceException,
                                                 NoSuchElementException)).until(
            lambda d: cond(d))
    except Exception as e:  # noqa: BLE001 - name what we waited for
        raise AssertionError(f"timed out waiting for {what}: {e}") from None


def viewport(driver, size):
    w, h = size
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": w, "height": h, "deviceScaleFactor": 1, "mobile": w < 600})


def go(driver, hash_):
    driver.execute_script("location.hash = arguments[0]", hash_)


def loaded(driver, selector):
    """Wait for the view to render `selector` (the old view's nodes are gone)."""
    return wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, selector)
                and not d.find_elements(By.CSS_SELECTOR, "#view .loading"), selector)


def text(driver, css):
    return driver.find_element(By.CSS_SELECTOR, css).text.strip()


def row_ids(driver, table="#live-table"):
    """Event ids of a table's rows, read in one step (Live re-renders them)."""
    return driver.execute_script(
        "return [...document.querySelectorAll(arguments[0] + ' tbody tr')]"
        ".map(r => r.dataset.eventId)", table)


def num(s: str) -> float:
    return float(re.sub(r"[^0-9.\-]", "", s))


def close(shown: str, value: float, places: int = 1) -> bool:
    return abs(num(shown) - value) <= 0.5 * 10 ** -places + 1e-9


def pct_close(shown: str, rate: float) -> bool:
    assert shown.endswith("%"), shown
    return abs(num(shown) - rate * 100) <= 0.05 + 1e-9


def no_overflow(driver):
    return driver.execute_script(
        "return [document.documentElement.scrollWidth, window.innerWidth]")


def screenshot(driver, shots: Path, name: str):
    """A full-page PNG: the viewport is stretched to the page height."""
    w, h = driver.execute_script("return [window.innerWidth, window.innerHeight]")
    full = driver.execute_script(
        "return Math.max(document.documentElement.scrollHeight, document.body.scrollHeight)")
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": w, "height": min(max(full, h), 6000), "deviceScaleFactor": 1,
        "mobile": w < 600})
    try:
        driver.save_screenshot(str(shots / f"{name}.png"))
    finally:
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": w, "height": h, "deviceScaleFactor": 1, "mobile": w < 600})


def sign_out_if_signed_in(driver, c: Collector):
    """Load the page; if the tab is still signed in, sign out with the button."""
    driver.get(c.url + "/")
    state = wait(driver, lambda d: (d.find_element(By.ID, "sdk-key").is_displayed() and "out")
                 or (d.find_element(By.ID, "sign-out").is_displayed() and "in"),
                 "signed-in or signed-out page")
    if state == "in":
        driver.find_element(By.ID, "sign-out").click()
    return wait(driver, lambda d: d.find_element(By.ID, "sdk-key").is_displayed()
                and d.find_element(By.ID, "sdk-key"), "sign-in form")


def sign_in(driver, c: Collector, key: str):
    box = sign_out_if_signed_in(driver, c)
    box.send_keys(key, Keys.ENTER)
    wait(driver, lambda d: d.find_element(By.ID, "mainnav").is_displayed(), "signed in")


def severe_logs(driver):
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


VIEWS = [
    ("endpoints", "#/endpoints", "#endpoints-table"),
    ("latency", "#/latency", "#latency-buckets"),
    ("over-time", "#/over-time", "#timeseries-table"),
    ("live", "#/live", "#live-table"),
    ("sessions", "#/sessions", "#sessions-table"),
]


# ---- tests ---------------------------------------------------------------------

def test_served_files_are_the_source(collector):
    """The binary embeds collector/dashboard/*: a stale build fails here."""
    for name in ("index.html", "app.js", "style.css", "favicon.svg"):
        r = collector.request("GET", f"/dashboard/{name}")
        assert r.status == 200, name
        assert r.headers["content-security-policy"].split(";")[0] == "default-src 'self'"
        assert r.body == (DASHBOARD_SRC / name).read_bytes(), (
            f"{name} served by the binary differs from the source: rebuild "
            "otas-collector (cmake --build build/c --target otas-collector)")


def test_sign_in_and_out(driver, collector, traffic, shots):
    viewport(driver, DESKTOP)
    box = sign_out_if_signed_in(driver, collector)
    screenshot(driver, shots, "signin-desktop")
    box.send_keys("otas_AAAAAAAAAAA_" + "B" * 43, Keys.ENTER)
    wait(driver, lambda d: "not accepted" in text(d, "#signin-error"), "rejection")
    assert not driver.find_element(By.ID, "mainnav").is_displayed()

    sign_in(driver, collector, collector.read_key)
    loaded(driver, "#endpoints-table")
    assert collector.read_key not in driver.current_url
    assert collector.read_key not in driver.find_element(By.TAG_NAME, "body").text
    assert collector.read_key not in driver.page_source
    assert driver.execute_script(
        "return sessionStorage.getItem('otas.sdkKey')") == collector.read_key
    assert driver.execute_script("return localStorage.length") == 0
    assert text(driver, "#project-name") == "Test project"

    driver.find_element(By.ID, "sign-out").click()
    wait(driver, lambda d: d.find_element(By.ID, "sdk-key").is_displayed(), "signed out")
    assert driver.execute_script("return sessionStorage.length") == 0
    assert not driver.find_elements(By.CSS_SELECTOR, "#view *")


def test_endpoints_match_api(driver, collector, traffic, shots):
    sign_in(driver, collector, collector.read_key)
    viewport(driver, DESKTOP)
    go(driver, "#/endpoints")
    loaded(driver, "#endpoints-table")
    api = collector.get("/api/v1/stats/endpoints").json()["endpoints"]
    rows = driver.find_elements(By.CSS_SELECTOR, "#endpoints-table tbody tr")
    assert len(rows) == len(api) >= 8
    by_key = {(r.get_attribute("data-method"), r.get_attribute("data-route")): r
              for r in rows}
    for e in api:
        r = by_key[(e["method"], e["route"])]
        cell = lambda col: r.find_element(By.CSS_SELECTOR, f'[data-col="{col}"]').text  # noqa: E731
        assert num(cell("count")) == e["count"], e
        assert num(cell("errors")) == e["errors"], e
        assert pct_close(cell("error_rate"), e["error_rate"]), e
        for p in ("p50", "p95", "p99"):
            assert close(cell(p), e[f"{p}_latency_ms"]), (p, cell(p), e)
    counts = [num(r.find_element(By.CSS_SELECTOR, '[data-col="count"]').text) for r in rows]
    assert counts == sorted(counts, reverse=True)
    total = sum(e["count"] for e in api)
    errors = sum(e["errors"] for e in api)
    assert num(text(driver, '[data-stat="requests"]')) == total == (
        len(traffic["events"]) + traffic.get("sdk_events", 0))
    assert num(text(driver, '[data-stat="errors"]')) == errors
    assert pct_close(text(driver, '[data-stat="error-rate"]'), errors / total)
    # The bar chart: one bar per endpoint, longest for the busiest.
    bars = driver.find_elements(By.CSS_SELECTOR, ".chart svg rect.bar")
    assert len(bars) == len(api)
    widths = [float(b.get_attribute("width")) for b in bars]
    assert widths[0] == max(widths)
    screenshot(driver, shots, "endpoints-desktop")


def test_time_range_matches_api(driver, collector, traffic, shots):
    """Last 24 hours: today's traffic only; the numbers are the API's with
    the same since (no event lies near the boundary)."""
    go(driver, "#/endpoints?range=24h")
    wait(driver, lambda d: d.find_element(By.ID, "range").get_attribute("value") == "24h"
         and d.find_elements(By.CSS_SELECTOR, "#endpoints-table"), "24h endpoints")
    since = (datetime.now(timezone.utc) - timedelta(hours=24)).strftime("%Y-%m-%dT%H:%M:%SZ")
    api = collector.get("/api/v1/stats/endpoints", since=since).json()["endpoints"]
    every = collector.get("/api/v1/stats/endpoints").json()["endpoints"]
    assert sum(e["count"] for e in api) < sum(e["count"] for e in every)
    assert num(text(driver, '[data-stat="requests"]')) == sum(e["count"] for e in api)
    rows = driver.find_elements(By.CSS_SELECTOR, "#endpoints-table tbody tr")
    got = {(r.get_attribute("data-method"), r.get_attribute("data-route")):
           num(r.find_element(By.CSS_SELECTOR, '[data-col="count"]').text) for r in rows}
    assert got == {(e["method"], e["route"]): e["count"] for e in api}
    # The range picker is a labelled select; "All time" goes back to everything.
    Select(driver.find_element(By.ID, "range")).select_by_value("all")
    wait(driver, lambda d: num(text(d, '[data-stat="requests"]'))
         == sum(e["count"] for e in every), "all-time numbers")


def test_latency_matches_api(driver, collector, traffic, shots):
    go(driver, "#/latency?method=GET&route=" + quote("api/items/<int:pk>", safe=""))
    loaded(driver, "#latency-buckets")
    assert text(driver, "#latency-route") == "api/items/<int:pk>"
    api = collector.get("/api/v1/stats/latency", method="GET",
                        route="api/items/<int:pk>").json()
    assert num(text(driver, '[data-stat="count"]')) == api["count"] > 20
    for p in ("p50", "p95", "p99"):
        assert close(text(driver, f'[data-stat="{p}"]'), api[f"{p}_latency_ms"])
    bars = driver.find_elements(By.CSS_SELECTOR, ".chart svg rect.hbar")
    assert len(bars) == len(api["buckets"])
    shown = [int(num(td.get_attribute("textContent"))) for td in driver.find_elements(
        By.CSS_SELECTOR, "#latency-buckets tbody tr td:nth-of-type(1)")]
    assert shown == [b["count"] for b in api["buckets"]]
    # "recent events" lists that endpoint's newest events.
    driver.find_element(By.LINK_TEXT, "recent events").click()
    loaded(driver, "#live-table")
    assert text(driver, "#live-route") == "api/items/<int:pk>"
    want = collector.get("/api/v1/events", method="GET", route="api/items/<int:pk>",
                         limit=50).json()["events"]
    ids = row_ids(driver)
    assert ids == [e["metadata"]["event_id"] for e in want]
    driver.back()
    loaded(driver, "#latency-buckets")
    # Picking another endpoint in the select shows that one.
    sel = driver.find_element(By.ID, "latency-endpoint")
    sel.send_keys(Keys.END)  # the quietest endpoint
    wait(driver, lambda d: text(d, "#latency-route") != "api/items/<int:pk>"
         and not d.find_elements(By.CSS_SELECTOR, "#view .loading"), "endpoint change")
    screenshot(driver, shots, "latency-desktop")


def test_over_time_matches_api(driver, collector, traffic, shots):
    go(driver, "#/over-time")
    loaded(driver, "#timeseries-table")
    api = collector.get("/api/v1/stats/timeseries", days=7).json()["series"]
    assert len(api) == 7 and all(d["events"] > 0 for d in api)
    for d in api:
        row = driver.find_element(By.CSS_SELECTOR, f'#timeseries-table tr[data-day="{d["day"]}"]')
        cell = lambda col: row.find_element(By.CSS_SELECTOR, f'[data-col="{col}"]').text  # noqa: E731
        assert num(cell("events")) == d["events"], d
        assert num(cell("errors")) == d["errors"], d
        assert pct_close(cell("error_rate"), d["error_rate"]), d
    assert num(text(driver, '[data-stat="events"]')) == sum(d["events"] for d in api)
    charts = driver.find_elements(By.CSS_SELECTOR, "svg.line-chart")
    assert len(charts) == 2
    for ch in charts:
        assert len(ch.find_elements(By.CSS_SELECTOR, "circle.dot")) == 7
    screenshot(driver, shots, "over-time-desktop")


def test_live_filters_and_refreshes(driver, collector, traffic, shots):
    go(driver, "#/live")
    loaded(driver, "#live-table")
    newest = collector.get("/api/v1/events", limit=50).json()["events"]
    ids = row_ids(driver)
    assert ids == [e["metadata"]["event_id"] for e in newest]
    screenshot(driver, shots, "live-desktop")
    # "Load older events" follows the API's cursor and appends the next page.
    driver.find_element(By.ID, "live-more").click()
    everything = collector.events()
    wait(driver, lambda d: len(row_ids(d)) == min(100, len(everything)), "the second page")
    ids = row_ids(driver)
    assert ids == [e["metadata"]["event_id"] for e in everything[:100]]
    assert not driver.find_element(By.ID, "live-more").is_displayed()

    # Filter by status with the form (typing + Enter).
    box = driver.find_element(By.ID, "f-status")
    box.send_keys("500", Keys.ENTER)
    wait(driver, lambda d: "status=500" in d.current_url, "filter in the hash")
    want = collector.events(status=500)
    wait(driver, lambda d: row_ids(d) == [e["metadata"]["event_id"] for e in want],
         "filtered rows")
    statuses = set(driver.execute_script(
        "return [...document.querySelectorAll('#live-table tbody tr td:nth-of-type(4)')]"
        ".map(td => td.textContent.trim())"))
    assert statuses == {"500"}

    # Auto-refresh: a new event shows up on top without a reload.
    go(driver, "#/live")
    loaded(driver, "#live-table")
    marker = driver.execute_script("window.__noReload = 1; return 1")
    fresh = event(datetime.now(timezone.utc), "PATCH", "/api/items/5",
                  "api/items/<int:pk>", 200, 9.9)
    assert collector.send_batch([fresh]).status == 200
    fid = fresh["metadata"]["event_id"]
    wait(driver, lambda d: row_ids(d)[:1] == [fid], "the new event on top", timeout=12)
    assert driver.execute_script("return window.__noReload") == marker
    traffic["extra"] = 1


def test_event_shows_redaction_errors_and_outgoing(driver, collector, traffic, shots):
    go(driver, "#/event/" + traffic["login_id"])
    loaded(driver, "#req-headers")
    assert text(driver, "#event-id") == traffic["login_id"]
    marks = driver.find_elements(By.CSS_SELECTOR, "#req-headers mark.redacted")
    assert [m.text for m in marks] == ["[REDACTED]", "[REDACTED]"]  # authorization, cookie
    auth = driver.find_element(By.XPATH, '//table[@id="req-headers"]//tr[th="authorization"]/td')
    assert auth.text == "[REDACTED]"
    assert auth.find_element(By.CSS_SELECTOR, "mark.redacted")
    # Highlighted in bodies and query parameters, and visibly so.
    assert driver.find_element(By.CSS_SELECTOR, "#req-body mark.redacted").text == "[REDACTED]"
    assert driver.find_element(By.CSS_SELECTOR, "#res-body mark.redacted").text == "[REDACTED]"
    assert driver.find_element(By.CSS_SELECTOR, "#req-query mark.redacted")
    bg = driver.find_element(By.CSS_SELECTOR, "#req-headers mark.redacted").value_of_css_property(
        "background-color")
    assert bg not in ("rgba(0, 0, 0, 0)", "transparent")
    # Pretty-printed JSON body.
    body = driver.find_element(By.ID, "req-body").get_attribute("textContent")
    assert json.loads(body) == {"username": "alice", "password": "[REDACTED]"}
    assert '\n  "username": "alice"' in body
    # The error and its stack.
    err = text(driver, "#event-errors")
    assert "GatewayTimeout" in err and 'File "shop/views.py", line 42' in err
    # The outgoing call made while handling it, linked.
    rows = driver.find_elements(By.CSS_SELECTOR, "#outgoing-table tbody tr")
    assert [r.get_attribute("data-event-id") for r in rows] == [traffic["outgoing_id"]]
    assert "/v1/charges" in rows[0].text
    screenshot(driver, shots, "event-desktop")
    rows[0].click()
    wait(driver, lambda d: d.current_url.endswith("#/event/" + traffic["outgoing_id"]), "outgoing opened")
    loaded(driver, "#event-id")
    link = driver.find_element(By.LINK_TEXT, traffic["login_id"])
    assert link.get_attribute("href").endswith("#/event/" + traffic["login_id"])


@pytest.mark.skipif(EVENT_SOURCE != "sdk", reason="OTAS_DASHBOARD_EVENT_SOURCE=sdk only")
def test_sdk_event_in_browser(driver, collector, traffic, shots):
    """An event the real SDK captured: the secrets it redacts by default
    (authorization) show as highlighted markers, never as the values,
    and the session cookie it set is not on the page.  (JSON body fields are redacted only when configured.)"""
    ev = collector.events(path="/api/items", method="POST")[0]
    go(driver, "#/event/" + ev["metadata"]["event_id"])
    loaded(driver, "#req-headers")
    auth = driver.find_element(By.XPATH, '//table[@id="req-headers"]//tr[th="authorization"]/td')
    assert auth.find_element(By.CSS_SELECTOR, "mark.redacted").text == "[REDACTED]"
    page = driver.find_element(By.TAG_NAME, "body").text
    assert "sdk-secret-token" not in page
    assert "cookie-secret-value" not in page
    screenshot(driver, shots, "sdk-event-desktop")


def test_untrusted_data_is_text(driver, collector, traffic, shots):
    go(driver, "#/event/" + traffic["xss_id"])
    loaded(driver, "#res-body")
    assert driver.execute_script("return window.__xss") is None
    assert XSS_PATH in text(driver, "#view h1")
    assert text(driver, "#res-body") == XSS_BODY
    assert "<b>Bold</b>" in text(driver, "#event-errors")
    assert not driver.find_elements(By.CSS_SELECTOR, "#view img, #view script, #view b")
    go(driver, "#/live")
    loaded(driver, "#live-table")
    assert driver.execute_script("return window.__xss") is None
    assert not driver.find_elements(By.CSS_SELECTOR, "#view img")


def test_agent_session_step_by_step(driver, collector, traffic, shots):
    go(driver, "#/sessions")
    loaded(driver, "#sessions-table")
    api = collector.get("/api/v1/agent-sessions").json()["sessions"]
    rows = driver.find_elements(By.CSS_SELECTOR, "#sessions-table tbody tr")
    assert len(rows) == len(api) == 1
    se = api[0]
    assert se["agent_id"] and se["verified"] is True
    assert rows[0].get_attribute("data-session-id") == se["agent_session_id"]
    assert num(rows[0].find_element(By.CSS_SELECTOR, '[data-col="events"]').text) == se["events"] == 4
    assert num(rows[0].find_element(By.CSS_SELECTOR, '[data-col="errors"]').text) == se["errors"] == 1
    screenshot(driver, shots, "sessions-desktop")
    rows[0].find_element(By.TAG_NAME, "a").click()
    loaded(driver, "#session-steps")
    steps = driver.find_elements(By.CSS_SELECTOR, "#session-steps > li")
    assert [s.get_attribute("data-event-id") for s in steps] == traffic["session_ids"]
    assert "POST /api/checkout/" in steps[-1].text.replace("\n", " ")
    assert "card declined" in steps[-1].text
    assert num(text(driver, '[data-stat="steps"]')) == 4
    assert text(driver, "#session-id") == se["agent_session_id"]
    screenshot(driver, shots, "session-desktop")


def test_keyboard_only_opens_an_event(driver, collector, traffic):
    sign_in(driver, collector, collector.read_key)
    viewport(driver, DESKTOP)
    driver.get(collector.url + "/#/live")
    driver.refresh()  # a fresh page: focus starts at the top of the document
    loaded(driver, "#live-table")
    # Keys go to whatever has focus, as a user's would: no element targeted.
    press = lambda k: ActionChains(driver).send_keys(k).perform()  # noqa: E731
    press(Keys.TAB)
    active = lambda d: d.switch_to.active_element  # noqa: E731
    assert active(driver).get_attribute("id") == "skip-link"
    assert active(driver).is_displayed()
    # Tab (and nothing else) until an event row has focus, then Enter.
    # What has focus is read in one script call: Live re-renders its rows
    # (and puts focus back on the same event's row) every few seconds.
    focused = lambda: driver.execute_script(  # noqa: E731
        "const e = document.activeElement; return [e.className, e.dataset.eventId || null,"
        " getComputedStyle(e).outlineStyle]")
    for _ in range(40):
        cls, fid, outline = focused()
        if "ev-row" in (cls or ""):
            break
        press(Keys.TAB)
    else:
        raise AssertionError("no event row reachable with Tab")
    first_id = collector.get("/api/v1/events", limit=1).json()["events"][0]["metadata"]["event_id"]
    assert fid == first_id
    assert outline != "none", "focused row has no visible focus style"
    press(Keys.ENTER)
    wait(driver, lambda d: d.current_url.endswith("#/event/" + first_id), "event opened by Enter")
    loaded(driver, "#event-id")
    # Focus moved to the new view's heading, so reading starts there.
    assert active(driver).tag_name == "h1"


@pytest.mark.parametrize("name,hash_,ready", VIEWS + [("event", None, "#req-headers"),
                                                     ("session", None, "#session-steps")])
def test_phone_has_no_horizontal_overflow(driver, collector, traffic, shots, name, hash_, ready):
    viewport(driver, PHONE)
    if name == "event":
        hash_ = "#/event/" + traffic["login_id"]
    elif name == "session":
        hash_ = "#/sessions/" + quote(traffic["session"]["agent_session_id"], safe="")
    try:
        go(driver, hash_)
        loaded(driver, ready)
        drawn = driver.execute_script(
            "return [...document.querySelectorAll('.chart svg')].map(s => +s.getAttribute('width'))")
        assert all(w <= PHONE[0] for w in drawn), drawn
        sw, iw = no_overflow(driver)
        assert sw <= iw == PHONE[0], f"{name}: page is {sw}px wide in a {iw}px viewport"
        screenshot(driver, shots, f"{name}-phone")
        assert no_overflow(driver)[0] <= PHONE[0]
    finally:
        viewport(driver, DESKTOP)


def test_every_view_at_desktop_size(driver, collector, traffic, shots):
    viewport(driver, DESKTOP)
    for name, hash_, ready in VIEWS:
        go(driver, hash_)
        loaded(driver, ready)
        sw, iw = no_overflow(driver)
        assert sw <= iw, f"{name}: {sw} > {iw}"
        # Every control on the page has an accessible name.
        unnamed = driver.execute_script("""
            return [...document.querySelectorAll('a[href], button, input, select')]
              .filter(e => e.offsetParent !== null)
              .filter(e => !(e.getAttribute('aria-label') || e.textContent.trim() ||
                             (e.id && document.querySelector('label[for="' + e.id + '"]'))))
              .map(e => e.outerHTML.slice(0, 80));""")
        assert unnamed == [], unnamed


def test_empty_project_tells_what_to_do(driver, collector, traffic, shots):
    pid, _ = collector.create_project("Fresh project")
    key = collector.project_read_keys[pid]
    for size, tag in ((DESKTOP, "desktop"), (PHONE, "phone")):
        viewport(driver, size)
        sign_in(driver, collector, key)
        go(driver, "#/endpoints")
        loaded(driver, '[data-empty="true"]')
        t = text(driver, '[data-empty="true"]')
        assert 'MIDDLEWARE = [..., "otas.OtasMiddleware"]' in t
        assert "export OTAS_SDK_KEY=" in t and "OTAS_BASE_URL=" + collector.url in t
        assert key not in t
        screenshot(driver, shots, f"empty-{tag}")
        for hash_ in ("#/live", "#/over-time", "#/latency", "#/sessions"):
            go(driver, hash_)
            loaded(driver, '[data-empty="true"]')
        assert no_overflow(driver)[0] <= size[0]
    viewport(driver, DESKTOP)
    driver.find_element(By.ID, "sign-out").click()


def test_revoked_key_signs_out(driver, collector, traffic):
    """A key revoked while the tab is signed in: the next view says so and
    shows the sign-in form, and the tab forgets the key."""
    key = collector.create_key(role="read")
    viewport(driver, DESKTOP)
    sign_in(driver, collector, key)
    go(driver, "#/endpoints")
    loaded(driver, "#endpoints-table")
    collector.revoke_key(key)
    go(driver, "#/sessions")
    wait(driver, lambda d: d.find_element(By.ID, "sdk-key").is_displayed(), "sign-in form")
    assert "no longer accepted" in text(driver, "#signin-error")
    assert driver.execute_script("return sessionStorage.length") == 0
    assert not driver.find_elements(By.CSS_SELECTOR, "#view *")


def test_no_browser_errors(driver, collector, traffic):
    """No CSP violation, script error or failed request during the run."""
    try:
        errs = severe_logs(driver)
    except WebDriverException:
        pytest.skip("browser log not available")
    # The deliberate bad-key sign-in answers 401 once.
    errs = [e for e in errs if "401" not in e["message"]]
    assert errs == [], errs
