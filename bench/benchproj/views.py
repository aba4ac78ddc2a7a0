"""The views every variant serves (the same code for all of them)."""

import json

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

ITEM = {"id": 7, "name": "Widget", "price": 9.99, "tags": ["a", "b"], "stock": 12}

# A user record with five sensitive fields: the body-redaction workload.
USER = {
    "id": 7, "name": "Ada Lovelace", "email": "ada@example.com",
    "password": "correct horse battery staple",
    "token": "tok_" + "9" * 32,
    "ssn": "078-05-1120",
    "card": {"number": "4111111111111111", "cvv": "123", "exp": "12/29"},
    "address": {"street": "12 Analytical Way", "city": "London", "zip": "N1 9GU"},
    "orders": [{"id": i, "total": 10.5 * i, "status": "shipped"} for i in range(1, 9)],
}


def item(request, pk):
    return JsonResponse(dict(ITEM, id=pk))


@csrf_exempt
def create_item(request):
    data = json.loads(request.body)
    return JsonResponse({"id": 1, "name": data.get("name"), "fields": len(data)},
                        status=201)


def user(request, pk):
    return JsonResponse(dict(USER, id=pk))
