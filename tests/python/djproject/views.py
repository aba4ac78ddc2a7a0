"""Views that exercise every capture path of the middleware."""

import asyncio
import hashlib
import json
import os
import tempfile

from django.http import (
    FileResponse,
    HttpResponse,
    JsonResponse,
    StreamingHttpResponse,
)
from django.views.decorators.csrf import csrf_exempt


def item(request, pk):
    return JsonResponse({"id": pk, "name": f"item {pk}", "price": 9.5})


@csrf_exempt
def create_item(request):
    data = json.loads(request.body or b"{}")
    resp = JsonResponse({"created": True, "echo": data}, status=201)
    resp["X-Internal-Token"] = "resp-secret-header-value"
    resp.set_cookie("sessionid", "cookie-secret-value")
    return resp


async def async_item(request, n):
    await asyncio.sleep(0)
    return JsonResponse({"n": n, "async": True})


def boom(request):
    raise ValueError("the view failed on purpose")


async def async_boom(request):
    raise KeyError("async failure")


CHUNK = b"x" * 1000


def stream(request):
    return StreamingHttpResponse((CHUNK for _ in range(50)),
                                 content_type="text/plain")


def stream_boom(request):
    def gen():
        yield CHUNK
        raise RuntimeError("the stream broke")
    return StreamingHttpResponse(gen(), content_type="text/plain")


async def async_stream(request):
    async def gen():
        for _ in range(20):
            yield CHUNK
    return StreamingHttpResponse(gen(), content_type="text/plain")


_FILE = None


def file_download(request):
    global _FILE
    if _FILE is None:
        fd, _FILE = tempfile.mkstemp(prefix="otas-test-")
        os.write(fd, bytes(range(256)) * 400)
        os.close(fd)
    return FileResponse(open(_FILE, "rb"), content_type="application/octet-stream")


@csrf_exempt
def upload(request):
    f = request.FILES["file"]
    digest = hashlib.sha256(f.read()).hexdigest()
    return JsonResponse({"name": f.name, "sha256": digest,
                         "field": request.POST.get("field")})


@csrf_exempt
def read_stream(request):
    # Reads the raw stream after the middleware ran: must still work.
    data = request.read()
    return JsonResponse({"read": len(data),
                         "sha256": hashlib.sha256(data).hexdigest()})


def binary(request):
    return HttpResponse(bytes(range(256)) * 4, content_type="application/octet-stream")


def big(request):
    return HttpResponse(b"A" * 300_000, content_type="text/plain")


@csrf_exempt
def echo(request):
    return HttpResponse(request.body, content_type=request.META.get(
        "CONTENT_TYPE", "application/octet-stream"))


def status(request, code):
    return JsonResponse({"status": code}, status=code)


def health(request):
    return HttpResponse("ok")


def pid(request, n):
    return JsonResponse({"n": n, "pid": os.getpid()})


def outgoing(request):
    """Calls a local HTTP server through requests, httpx and a thread."""
    import threading

    import httpx
    import requests

    target = request.GET["target"]
    a = requests.get(target + "/r?token=q-secret-Zx9&x=1", headers={"Authorization": "Bearer out-secret"}).json()
    b = httpx.post(target + "/h", json={"password": "pw", "k": 1}).json()
    seen = {}
    t = threading.Thread(target=lambda: seen.update(requests.get(target + "/t").json()))
    t.start()
    t.join()
    return JsonResponse({"requests": a, "httpx": b, "thread": seen})


async def async_outgoing(request):
    import httpx

    target = request.GET["target"]
    async with httpx.AsyncClient() as c:
        r = await c.get(target + "/a")
    return JsonResponse({"async": r.json()})


def outgoing_fail(request):
    import requests

    try:
        requests.get(request.GET["target"] + "/nothing-listens", timeout=2)
    except requests.ConnectionError:
        return JsonResponse({"failed_as_expected": True})
    return JsonResponse({"failed_as_expected": False})


def observed(request):
    import otas

    with otas.observe_request(request) as client:
        r = client.get(request.GET["target"] + "/o")
    return JsonResponse({"observed": r.json()})


def report_errors(request):
    import otas

    for exc in (ValueError("first problem"), KeyError("second problem")):
        try:
            raise exc
        except Exception as e:
            otas.report_error(request, e)
    return JsonResponse({"ok": True})


@csrf_exempt
def account(request):
    """Echoes a form or JSON body and answers with secrets of its own."""
    if request.content_type == "application/x-www-form-urlencoded":
        got = {k: request.POST.get(k) for k in request.POST}
    else:
        got = json.loads(request.body or b"{}")
    resp = JsonResponse({"user": {"name": got.get("name"), "api_token": "RESP-TOKEN-5d1"},
                         "session": {"token": "RESP-SESSION-77e"}, "plan": "pro"})
    resp["X-Internal-Token"] = "RESP-HEADER-9f0"
    return resp


def boom_url(request):
    """Fails with URLs in the exception text (a client library's message
    names the URL it called): one reported, one unhandled."""
    import otas

    try:
        raise ConnectionError("GET " + request.headers["X-Report-Url"] + " failed")
    except ConnectionError as e:
        otas.report_error(request, e)
    raise ValueError("upstream " + request.headers["X-Boom-Url"] + " answered 500")


def redirect_to(request):
    resp = HttpResponse(status=302)
    resp["Location"] = request.headers["X-Next"]
    resp["Content-Location"] = request.headers["X-Next"]
    return resp


def outgoing_urls(request):
    """Calls the URLs its headers name (requests, httpx, and one that
    fails): URLs with userinfo and secrets in the query."""
    import httpx
    import requests

    out = {"requests": requests.get(request.headers["X-Call-Requests"]).status_code,
           "httpx": httpx.get(request.headers["X-Call-Httpx"]).status_code}
    try:
        requests.get(request.headers["X-Call-Dead"], timeout=2)
    except requests.RequestException as e:
        out["dead"] = type(e).__name__
    return JsonResponse(out)


def huge(request):
    # 40 MB: over the engine's 32 MiB queue unless cut before it
    return HttpResponse(b"H" * (40 << 20), content_type="text/plain")


@csrf_exempt
def raw_input(request):
    # Reads the WSGI stream itself, as some upload views do.
    n = int(request.META.get("CONTENT_LENGTH") or 0)
    data = request.META["wsgi.input"].read(n)
    return JsonResponse({"read": len(data)})


class DrfLikeRequest:
    """What DRF hands its views: a wrapper with the HttpRequest in
    _request and attribute access proxied to it."""

    def __init__(self, request):
        self._request = request

    def __getattr__(self, name):
        return getattr(self._request, name)


def drf_error(request):
    import otas

    try:
        raise KeyError("drf problem")
    except KeyError as e:
        otas.report_error(DrfLikeRequest(request), e)
    return JsonResponse({"ok": True})


def written(request):
    """A response written in pieces (two items in _container) and one whose
    content property is the view's own: the capture reads what the client
    gets."""
    if request.GET.get("kind") == "own":
        return OwnContent(b"ignored")
    r = HttpResponse(b"first,", content_type="text/plain")
    r.write(b"second")
    return r


class OwnContent(HttpResponse):
    @property
    def content(self):
        return b"own content"

    @content.setter
    def content(self, value):
        HttpResponse.content.fset(self, value)
