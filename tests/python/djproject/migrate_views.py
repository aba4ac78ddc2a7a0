"""Views for the migration tests (Moesif / APIToolkit parity, OpenTelemetry,
outgoing hooks): a view that calls a third party, one that logs a user
in, one that never touches request.user."""

import json

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt
def call(request):
    """GET/POST ?target=URL&paths=/a,/b: one requests call per path (POST
    with the request's body when the request is a POST)."""
    import requests

    target = request.GET["target"]
    out = []
    for p in request.GET.get("paths", "").split(","):
        if not p:
            continue
        if request.method == "POST":
            r = requests.post(target + p, data=request.body,
                              headers={"Content-Type": "application/json"})
        else:
            r = requests.get(target + p, headers={"X-Out-Secret": "out-hdr-secret"})
        out.append(r.json())
    return JsonResponse({"calls": out, "password": "resp-pw-secret",
                         "note": "note-secret",
                         "card": {"number": "4111"}})


@csrf_exempt
def echo_json(request):
    data = json.loads(request.body or b"{}")
    resp = JsonResponse({"echo": data, "password": "resp-pw-secret",
                         "items": [{"n": 1}, {"n": 2}, {"n": 3}]})
    resp["X-Resp-Only"] = "resp-only-secret"
    resp["X-Req-Only"] = "visible-in-response"
    return resp


def untouched_user(request):
    """A view that never evaluates request.user."""
    return JsonResponse({"ok": True})


def touched_user(request):
    return JsonResponse({"user": request.user.get_username()})


async def async_touched_user(request):
    """An async view authenticating as Django's async code does."""
    user = await request.auser()
    return JsonResponse({"user": user.get_username()})


def observed(request):
    """APIToolkit's observe_request (its own path, so that the parity test
    and test_outgoing.py do not see each other's events)."""
    import otas

    with otas.observe_request(request) as client:
        r = client.get(request.GET["target"] + "/o")
    return JsonResponse({"observed": r.json()})


def report_errors(request):
    """APIToolkit's report_error, twice (its own path, as above)."""
    import otas

    for exc in (ValueError("first problem"), KeyError("second problem")):
        try:
            raise exc
        except Exception as e:
            otas.report_error(request, e)
    return JsonResponse({"ok": True})


def thread_subclass(request):
    """A call from a thread of a Thread subclass (its own run())."""
    import threading

    import requests

    target = request.GET["target"]

    class Worker(threading.Thread):
        def run(self):
            self.answer = requests.get(target + "/from-subclass").json()

    w = Worker()
    w.start()
    w.join()
    return JsonResponse({"thread": w.answer})
