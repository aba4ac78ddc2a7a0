"""The dashboard's range-and-filter views (Overview, Errors, Search, Users,
Companies, Agents) in headless Chromium, against a real otas-collector fed
by the real SDK.

The traffic is sent by the SDK inside a real Django app (sdk_traffic.py,
run as a child process so its runtime points at this module's collector):
users and companies identified by the SDK, a burst of 401s, exceptions,
scanner paths no route matched, an agent's calls, a searchable body, and
user/company updates.  Every number the page shows is compared with the
query API's answer for the same URL arguments.  Screenshots of each view
at 1440x900 and 390x844 go to build/dashboard-screenshots/.
"""
from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest

from otas_testing.collector import Collector, find_collector_binary

pytest.importorskip("selenium")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402

from test_dashboard import (  # noqa: E402
    driver, go, loaded, no_overflow, screenshot, severe_logs, sign_in, text,
    viewport, wait)

HERE = Path(__file__).resolve().parent
SHOTS_COPY = HERE.parents[1] / "build" / "dashboard-screenshots"
DESKTOP = (1440, 900)
PHONE = (390, 844)
_ = driver  # a fixture, used by name


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    d = tmp_path_factory.mktemp("dashboard-view-shots")
    yield d
    SHOTS_COPY.mkdir(parents=True, exist_ok=True)
    for f in d.glob("*.png"):
        shutil.copy2(f, SHOTS_COPY / f.name)


@pytest.fixture(scope="module")
def collector(tmp_path_factory):
    c = Collector(tmp_path_factory.mktemp("collector-views"), binary=find_collector_binary())
    c.start(extra_args=["--quiet"])
    yield c
    c.stop()


@pytest.fixture(scope="module")
def traffic(collector):
    token = collector.agent_session("research-bot")
    spool = collector.tmp_dir / "sdk-spool"
    spool.mkdir(exist_ok=True)
    r = subprocess.run([sys.executable, str(HERE / "sdk_traffic.py"), collector.url,
                        collector.key, str(spool), token],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    n = json.loads(r.stdout.strip().splitlines()[-1])["events"]
    got = collector.wait_for_events(n, timeout=15)
    assert len(got) == n, f"the SDK delivered {len(got)} of {n} events"
    return {"events": n}


def api(c, url, /, **params):
    r = c.get(url, **params)
    assert r.status == 200, (url, params, r)
    return r.json()


def stat(driver, key):
    return text(driver, f'[data-stat="{key}"]')


def test_overview_matches_api(driver, collector, traffic, shots):
    sign_in(driver, collector, collector.read_key or collector.key)
    viewport(driver, DESKTOP)
    go(driver, "#/overview?range=1h")
    loaded(driver, "#series-table")
    s = api(collector, "/api/v1/stats/series", range="1h")
    assert s["bucket"] == "minute" and s["totals"]["requests"] == traffic["events"]
    assert stat(driver, "requests") == str(s["totals"]["requests"])
    assert stat(driver, "errors") == str(s["totals"]["errors"]) == "10"  # 3x401, 4x404, 2x500, 503
    assert stat(driver, "error-rate") == f'{s["totals"]["error_rate"] * 100:.1f}%'
    rows = driver.find_elements(By.CSS_SELECTOR, "#series-table tbody tr")
    busy = [b for b in s["series"] if b["requests"]]
    assert len(rows) == len(busy)
    for tr, b in zip(rows, reversed(busy)):
        assert tr.get_attribute("data-t") == b["t"]
        assert tr.find_element(By.CSS_SELECTOR, '[data-k="requests"]').text == str(b["requests"])
        for k in ("2xx", "4xx", "5xx"):
            assert tr.find_element(By.CSS_SELECTOR, f'[data-k="{k}"]').text == str(b["status"][k])
        assert tr.find_element(By.CSS_SELECTOR, '[data-k="p50"]').text == f'{b["p50_latency_ms"]:.1f} ms'
    # the stacked bars and latency lines are drawn; empty minutes break the lines
    assert driver.find_elements(By.CSS_SELECTOR, "svg.stacked rect.sc-2xx")
    assert driver.find_elements(By.CSS_SELECTOR, "svg.multi path.ln.l-p95")
    # unmatched requests are one endpoint, their paths one click away
    um = driver.find_element(By.CSS_SELECTOR, '#routes-table tr[data-unmatched="1"]')
    assert um.find_element(By.CSS_SELECTOR, '[data-k="count"]').text == "4"
    routes = api(collector, "/api/v1/stats/routes", range="1h")["endpoints"]
    assert len(driver.find_elements(By.CSS_SELECTOR, "#routes-table tbody tr")) == len(routes)
    screenshot(driver, shots, "overview-desktop")
    driver.find_element(By.ID, "unmatched-link").click()
    loaded(driver, "#search-table")
    assert "unmatched=1" in driver.current_url and "range=1h" in driver.current_url
    paths = {e.text for e in driver.find_elements(By.CSS_SELECTOR, "#search-table td.path a")}
    assert paths == {"/wp-admin/setup.php", "/.env", "/phpmyadmin/index.php", "/.git/config"}


def test_time_range_and_filters_live_in_the_url(driver, collector, traffic, shots):
    viewport(driver, DESKTOP)
    go(driver, "#/overview")
    loaded(driver, "#series-table")
    Select(driver.find_element(By.ID, "d-range")).select_by_value("15m")
    wait(driver, lambda d: "range=15m" in d.current_url, "range in the URL")
    loaded(driver, "#series-table")
    assert stat(driver, "requests") == str(traffic["events"])
    # a filter typed into the form lands in the URL, and the URL alone
    # (a shared link, in a fresh page load) shows the same numbers
    driver.find_element(By.CSS_SELECTOR, "#dash-filters").find_element(By.XPATH, "..").click()
    box = driver.find_element(By.ID, "df-status")
    box.clear()
    box.send_keys("4xx", Keys.ENTER)
    wait(driver, lambda d: "status=4xx" in d.current_url, "status filter in the URL")
    loaded(driver, "#series-table")
    want = api(collector, "/api/v1/stats/series", range="15m", status="4xx")["totals"]["requests"]
    assert want == 7
    wait(driver, lambda d: stat(d, "requests") == "7", "filtered total")
    url = driver.current_url
    driver.get(collector.url + "/")
    driver.get(url)
    loaded(driver, "#series-table")
    wait(driver, lambda d: stat(d, "requests") == "7", "total after reload")
    chip = driver.find_element(By.CSS_SELECTOR, '[data-filter="status"]')
    assert "4xx" in chip.text
    # every view keeps the range and filters: the Errors view of this URL
    go(driver, "#/errors?range=15m&status=4xx")
    loaded(driver, "#error-groups")
    assert stat(driver, "errors") == "7"
    # an absolute range
    s = api(collector, "/api/v1/stats/series", range="15m")
    go(driver, "#/overview?" + urlencode({"from": s["from"], "to": s["to"]}))
    loaded(driver, "#series-table")
    assert Select(driver.find_element(By.ID, "d-range")).first_selected_option.get_attribute("value") == "abs"
    assert stat(driver, "requests") == str(traffic["events"])


def test_error_groups(driver, collector, traffic, shots):
    viewport(driver, DESKTOP)
    go(driver, "#/errors?range=1h")
    loaded(driver, "#error-groups")
    g = api(collector, "/api/v1/errors", range="1h")
    items = driver.find_elements(By.CSS_SELECTOR, "#error-groups > li")
    assert len(items) == len(g["groups"])
    for li, grp in zip(items, g["groups"]):
        assert li.get_attribute("data-count") == str(grp["count"])
        assert li.get_attribute("data-route") == grp["route"]
    by = {(li.get_attribute("data-type"), li.get_attribute("data-route")): li for li in items}
    boom = by[("ValueError", "api/boom")]
    assert boom.get_attribute("data-count") == "2"
    assert "the view failed on purpose" in boom.find_element(By.CSS_SELECTOR, ".eg-msg").text
    boom.find_element(By.TAG_NAME, "summary").click()
    assert "Traceback" in boom.find_element(By.CSS_SELECTOR, "pre.stack").text
    assert by[("HTTP 401", "api/status/<int:code>")].get_attribute("data-count") == "3"
    assert by[("HTTP 503", "api/status/<int:code>")].get_attribute("data-count") == "1"
    # four scanner paths: one group
    assert by[("HTTP 404", "(unmatched)")].get_attribute("data-count") == "4"
    assert len(items) == 4
    screenshot(driver, shots, "errors-desktop")
    # drill-down: the group's events
    by[("HTTP 401", "api/status/<int:code>")].find_element(By.CSS_SELECTOR, ".eg-drill").click()
    loaded(driver, "#search-table")
    rows = driver.find_elements(By.CSS_SELECTOR, "#search-table tbody tr")
    assert len(rows) == 3 and all("401" in r.text for r in rows)
    go(driver, "#/errors?range=1h")
    loaded(driver, "#error-groups")
    driver.find_element(By.CSS_SELECTOR, '#error-groups li[data-type="ValueError"] .eg-latest').click()
    wait(driver, lambda d: "#/event/" in d.current_url, "the latest event")


def test_search_text_and_export(driver, collector, traffic, shots):
    viewport(driver, DESKTOP)
    go(driver, "#/search?range=1h&q=" + quote("quick brown"))
    loaded(driver, "#search-table")
    rows = driver.find_elements(By.CSS_SELECTOR, "#search-table tbody tr")
    want = api(collector, "/api/v1/search", range="1h", q="quick brown")["events"]
    assert [r.get_attribute("data-event-id") for r in rows] == [e["event_id"] for e in want]
    assert len(want) == 1 and want[0]["path"] == "/api/echo"
    # the text box says what it searches (collector/README.md "Text search")
    assert text(driver, "label[for='df-q']") == "Text in path, query, bodies, error"
    go(driver, "#/search?range=1h&path=" + quote("/api/items/*") + "&tag=blue&version=2.4.1")
    loaded(driver, "#search-table")
    want = api(collector, "/api/v1/search", range="1h", path="/api/items/*", tag="blue",
               version="2.4.1")["events"]
    assert len(want) == 7
    wait(driver, lambda d: [r.get_attribute("data-event-id") for r in
                            d.find_elements(By.CSS_SELECTOR, "#search-table tbody tr")]
         == [e["event_id"] for e in want], "the filtered rows")
    assert text(driver, "#search-count") == "7 matching requests"
    screenshot(driver, shots, "search-desktop")
    # export: the page fetches it with the key header and saves a file
    driver.find_element(By.ID, "export-csv").click()
    wait(driver, lambda d: d.execute_script(
        "return document.documentElement.dataset.exportFormat") == "csv", "CSV export")
    r = collector.get("/api/v1/export", range="1h", path="/api/items/*", tag="blue",
                      version="2.4.1", format="csv")
    rows = list(csv.DictReader(io.StringIO(r.body.decode())))
    assert [x["event_id"] for x in rows] == [e["event_id"] for e in want]
    # the file the page saved is the API's export of the same filter
    assert driver.execute_script("return document.documentElement.dataset.exportBytes") \
        == str(len(r.body))
    driver.find_element(By.ID, "export-json").click()
    wait(driver, lambda d: d.execute_script(
        "return document.documentElement.dataset.exportFormat") == "json", "JSON export")
    r = collector.get("/api/v1/export", range="1h", path="/api/items/*", tag="blue",
                      version="2.4.1", format="json")
    assert json.loads(r.body)["rows"] == 7
    assert driver.execute_script("return document.documentElement.dataset.exportBytes") \
        == str(len(r.body))
    r = collector.get("/api/v1/export", range="1h", format="json", status="5xx")
    assert json.loads(r.body)["rows"] == 3
    # a row is a link to its event
    link = driver.find_element(By.CSS_SELECTOR, "#search-table td.path a")
    assert "#/event/" in link.get_attribute("href")
    link.click()
    wait(driver, lambda d: "#/event/" in d.current_url, "event page")


def test_users_and_companies(driver, collector, traffic, shots):
    viewport(driver, DESKTOP)
    go(driver, "#/users?range=1h")
    loaded(driver, "#users-table")
    users = {u["id"]: u for u in api(collector, "/api/v1/stats/users", range="1h")["users"]}
    assert set(users) == {"alice", "bob", "carol"}
    for tr in driver.find_elements(By.CSS_SELECTOR, "#users-table tbody tr"):
        u = users[tr.get_attribute("data-id")]
        assert tr.find_element(By.CSS_SELECTOR, '[data-k="requests"]').text == str(u["requests"])
        assert tr.find_element(By.CSS_SELECTOR, '[data-k="errors"]').text == str(u["errors"])
    assert (users["alice"]["requests"], users["bob"]["errors"], users["carol"]["requests"]) == (6, 5, 0)
    assert "alice@acme.example" in text(driver, '#users-table tr[data-id="alice"]')
    # An e-mail given at the top level (the README's update_user()) names
    # the user as one in metadata does, and the profile shows both kinds.
    assert "bob@globex.example" in text(driver, '#users-table tr[data-id="bob"]')
    screenshot(driver, shots, "users-desktop")
    driver.find_element(By.CSS_SELECTOR, '#users-table tr[data-id="bob"] a').click()
    loaded(driver, "#person-events")
    props = {dt.text.lower(): dd.text for dt, dd in zip(
        driver.find_elements(By.CSS_SELECTOR, "dl.props dt"),
        driver.find_elements(By.CSS_SELECTOR, "dl.props dd"))}
    assert props == {"email": "bob@globex.example", "plan": "pro", "company": "globex"}, props
    go(driver, "#/users?range=1h")
    loaded(driver, "#users-table")
    driver.find_element(By.CSS_SELECTOR, '#users-table tr[data-id="alice"] a').click()
    loaded(driver, "#person-events")
    assert stat(driver, "requests") == "6"
    assert len(driver.find_elements(By.CSS_SELECTOR, "#person-events tbody tr")) == 6
    screenshot(driver, shots, "user-desktop")
    go(driver, "#/companies?range=1h")
    loaded(driver, "#companies-table")
    cos = {x["id"]: x for x in api(collector, "/api/v1/stats/companies", range="1h")["companies"]}
    assert cos["acme"]["requests"] == 6 and cos["globex"]["errors"] == 5
    assert text(driver, '#companies-table tr[data-id="globex"] [data-k="errors"]') == "5"
    assert "Acme Inc" in text(driver, '#companies-table tr[data-id="acme"]')
    screenshot(driver, shots, "companies-desktop")
    driver.find_element(By.CSS_SELECTOR, '#companies-table tr[data-id="globex"] a').click()
    loaded(driver, "#person-events")
    assert stat(driver, "errors") == "5"
    # Its users, with what each did in the range.
    members = [tr.get_attribute("data-id")
               for tr in driver.find_elements(By.CSS_SELECTOR, "#company-users tbody tr")]
    assert members == [u for u, x in users.items() if x.get("company_id") == "globex"] == ["bob"]
    assert text(driver, '#company-users tr[data-id="bob"] [data-k="errors"]') == "5"
    assert "bob@globex.example" in text(driver, '#company-users tr[data-id="bob"]')
    screenshot(driver, shots, "company-desktop")


def test_agents(driver, collector, traffic, shots):
    viewport(driver, DESKTOP)
    go(driver, "#/agents?range=1h")
    loaded(driver, "#agents-table")
    agents = api(collector, "/api/v1/stats/agents", range="1h")["agents"]
    assert len(agents) == 1 and (agents[0]["calls"], agents[0]["errors"], agents[0]["sessions"]) == (3, 1, 1)
    tr = driver.find_element(By.CSS_SELECTOR, "#agents-table tbody tr")
    assert tr.find_element(By.CSS_SELECTOR, '[data-k="calls"]').text == "3"
    screenshot(driver, shots, "agents-desktop")
    tr.find_element(By.TAG_NAME, "a").click()
    loaded(driver, "#agent-endpoints")
    assert stat(driver, "calls") == "3" and stat(driver, "errors") == "1"
    eps = {r.get_attribute("data-route"): r for r in
           driver.find_elements(By.CSS_SELECTOR, "#agent-endpoints tbody tr")}
    assert eps["api/items/<int:pk>"].find_element(By.CSS_SELECTOR, '[data-k="count"]').text == "2"
    assert len(driver.find_elements(By.CSS_SELECTOR, "#agent-sessions tbody tr")) == 1
    screenshot(driver, shots, "agent-desktop")
    viewport(driver, PHONE)
    try:
        sw, iw = no_overflow(driver)
        assert sw <= iw
        screenshot(driver, shots, "agent-phone")
    finally:
        viewport(driver, DESKTOP)
    driver.find_element(By.CSS_SELECTOR, "#agent-sessions tbody a").click()
    loaded(driver, "#session-steps")


def test_keyboard_reaches_the_filters(driver, collector, traffic):
    viewport(driver, DESKTOP)
    go(driver, "#/search?range=1h")
    loaded(driver, "#search-table")
    # Tab from the range select to the filter toggle; Enter opens it
    driver.find_element(By.ID, "d-range").send_keys(Keys.TAB)
    for _ in range(10):
        el = driver.switch_to.active_element
        if el.tag_name == "summary":
            break
        el.send_keys(Keys.TAB)
    assert driver.switch_to.active_element.tag_name == "summary"
    driver.switch_to.active_element.send_keys(Keys.ENTER)
    driver.switch_to.active_element.send_keys(Keys.TAB)
    driver.switch_to.active_element.send_keys("POST", Keys.ENTER)
    wait(driver, lambda d: "method=POST" in d.current_url, "method filter by keyboard")
    loaded(driver, "#search-table")
    assert len(driver.find_elements(By.CSS_SELECTOR, "#search-table tbody tr")) == 1


PHONE_VIEWS = [
    ("overview", "#/overview?range=1h", "#series-table"),
    ("errors", "#/errors?range=1h", "#error-groups"),
    ("search", "#/search?range=1h", "#search-table"),
    ("users", "#/users?range=1h", "#users-table"),
    ("companies", "#/companies?range=1h", "#companies-table"),
    ("agents", "#/agents?range=1h", "#agents-table"),
    ("user", "#/user/alice?range=1h", "#person-events"),
    ("company", "#/company/globex?range=1h", "#person-events"),
]


@pytest.mark.parametrize("name,hash_,ready", PHONE_VIEWS, ids=[v[0] for v in PHONE_VIEWS])
def test_phone_layout(driver, collector, traffic, shots, name, hash_, ready):
    viewport(driver, PHONE)
    try:
        go(driver, hash_)
        loaded(driver, ready)
        sw, iw = no_overflow(driver)
        assert sw <= iw, f"{name}: page is {sw}px wide in a {iw}px viewport"
        screenshot(driver, shots, f"{name}-phone")
    finally:
        viewport(driver, DESKTOP)


def test_no_browser_errors(driver, collector, traffic):
    assert severe_logs(driver) == []
