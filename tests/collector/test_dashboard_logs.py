"""Dashboard serving and the request log."""
from otas_testing.collector import make_event


def test_dashboard_embedded(collector):
    r = collector.request("GET", "/")
    assert r.status == 200 and r.headers["content-type"].startswith("text/html")
    assert b"<html" in r.body
    assert collector.request("GET", "/dashboard/index.html").body == r.body


def test_dashboard_never_framed(collector):
    """Every dashboard file refuses to be framed (clickjacking) and leaks no
    referrer; old browsers get X-Frame-Options, new ones frame-ancestors."""
    for path in ["/", "/dashboard/index.html", "/dashboard/app.js"]:
        r = collector.request("GET", path)
        assert r.status == 200, path
        assert r.headers["content-security-policy"] == \
            "default-src 'self'; frame-ancestors 'none'", path
        assert r.headers["x-frame-options"] == "DENY", path
        assert r.headers["x-content-type-options"] == "nosniff", path
        assert r.headers["referrer-policy"] == "no-referrer", path
    for bad in ["/dashboard/../main.c", "/dashboard/.hidden", "/dashboard/nope.js",
                "/dashboard/", "/dashboard/a/b.js"]:
        assert collector.request("GET", bad).status == 404, bad


def test_dashboard_dir(make_collector, tmp_path):
    d = tmp_path / "dash"
    d.mkdir()
    (d / "index.html").write_text("<html>dev</html>")
    (d / "app.js").write_text("console.log(1)")
    (d / "style.css").write_text("body{}")
    c = make_collector(["--dashboard-dir", str(d)])
    assert c.request("GET", "/").body == b"<html>dev</html>"
    r = c.request("GET", "/dashboard/app.js")
    assert r.headers["content-type"].startswith("text/javascript")
    assert c.request("GET", "/dashboard/style.css").headers["content-type"].startswith("text/css")


def test_log_lines_hold_no_secrets(make_collector):
    c = make_collector(["--verbose"])
    token = c.agent_session("bot")
    c.send_event(make_event(1, request_body="SECRET-BODY"), token=token)
    c.send_batch([make_event(2, agent_session_token=token)], gzip=True)
    c.get("/api/v1/events", path="/x")
    c.post_json("/api/project/v1/sdk/backend/key/authenticate/", b"", key="garbage")
    assert c.stop() == 0
    log = c.log_text()
    assert "info: POST /api/v1/backend/log/sdk/ 201 " in log
    assert "info: POST /api/v1/backend/log/sdk/batch/ 200 " in log
    assert "info: GET /api/v1/events 200 " in log
    assert "stopped cleanly" in log
    for secret in (c.key, c.key[17:], token, "SECRET-BODY", "garbage"):
        assert secret not in log


def test_quiet_has_no_request_lines(collector):
    collector.send_event(make_event(1))
    collector.stop()
    assert "info: POST" not in collector.log_text()
