"""Moesif-style hooks the migration tests configure (importable, so a
subprocess app's settings can name them)."""


def skip(request, response):
    return request.GET.get("skip") == "1"


def identify_user(request, response):
    return request.headers.get("X-User")


def identify_company(request, response):
    return request.headers.get("X-Company")


def get_session_token(request, response):
    return request.headers.get("X-Session")


def get_metadata(request, response):
    return {"plan": "gold", "status_seen": response.status_code}


def mask_event(event):
    # A Moesif MASK_EVENT_MODEL ported line by line: parsed bodies.
    if "drop=1" in (event.get("query_string") or ""):
        return None
    if event.get("direction") == "outgoing" and event["path"].endswith("/masked"):
        return None
    body = event.get("response_body")
    if isinstance(body, dict) and "note" in body:
        body["note"] = None
    if isinstance(body, dict) and event.get("direction") == "outgoing":
        body["seen_by_mask"] = True
    if event.get("user_id") == "rename-me":
        event["user_id"] = "renamed"
        event["company_id"] = "co-renamed"
        event["session_token"] = "sess-renamed"
    return event


def skip_outgoing(req, res):
    return req.url.endswith("/skip")


def identify_user_outgoing(req, res):
    return "out-user" if req.url.endswith("/who") else None


def identify_company_outgoing(req, res):
    return "out-co" if req.url.endswith("/who") else None


def get_session_token_outgoing(req, res):
    return "out-session" if req.url.endswith("/who") else None


def get_metadata_outgoing(req, res):
    return {"callee_status": res.status_code if res is not None else None,
            "method_seen": req.method}
