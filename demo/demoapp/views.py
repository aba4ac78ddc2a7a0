"""A toy shop API with realistic shapes, latencies and a few failures."""

import json
import random
import time

import otas
from django.http import Http404, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

PRODUCTS = {i: {"id": i, "name": f"Product {i}", "price": round(5 + i * 1.75, 2),
                "stock": (i * 7) % 23} for i in range(1, 41)}
ORDERS = {}


def _work(ms):
    time.sleep(random.uniform(ms * 0.5, ms * 1.5) / 1000)


def products(request):
    _work(4)
    return JsonResponse({"products": list(PRODUCTS.values())[:20]})


def product(request, pk):
    _work(2)
    if pk not in PRODUCTS:
        raise Http404("no such product")
    return JsonResponse(PRODUCTS[pk])


def search(request):
    q = request.GET.get("q", "")
    _work(12)
    hits = [p for p in PRODUCTS.values() if q and q in p["name"].lower()] or \
        list(PRODUCTS.values())[:5]
    return JsonResponse({"q": q, "results": hits})


@csrf_exempt
def create_order(request):
    if request.method != "POST":
        return JsonResponse({"error": "POST only"}, status=405)
    data = json.loads(request.body)
    _work(8)
    if data.get("product_id") == 13:
        raise RuntimeError("inventory service timed out")
    if data.get("product_id") not in PRODUCTS:
        return JsonResponse({"error": "unknown product"}, status=400)
    oid = len(ORDERS) + 1
    ORDERS[oid] = {"id": oid, **data, "status": "placed"}
    ORDERS[oid].pop("card", None)
    return JsonResponse(ORDERS[oid], status=201)


def order(request, pk):
    _work(2)
    # Orders live in each worker's memory; any id a worker could have
    # handed out is answered the same way by both workers.
    if pk not in ORDERS and not 0 < pk <= 10_000:
        return JsonResponse({"error": "not found"}, status=404)
    return JsonResponse(ORDERS.get(pk, {"id": pk, "status": "placed"}))


@csrf_exempt
def login(request):
    data = json.loads(request.body or b"{}")
    _work(6)
    if data.get("password") != "correct horse":
        return JsonResponse({"error": "bad credentials"}, status=401)
    user, org = data.get("username"), request.headers.get("X-Org")
    if user:
        # What the shop knows of its user, for the dashboard's Users view
        # (queued with the events, sent by the engine's thread).
        otas.update_user({"user_id": user, "company_id": org,
                          "email": f"{user}@{org or 'example'}.example"})
    return JsonResponse({"user": user, "token": "tok-" + "9" * 24})


def export(request):
    def rows():
        yield b"id,name,price\n"
        for p in PRODUCTS.values():
            yield f"{p['id']},{p['name']},{p['price']}\n".encode()
    return StreamingHttpResponse(rows(), content_type="text/csv")


def health(request):
    return HttpResponse("ok")
