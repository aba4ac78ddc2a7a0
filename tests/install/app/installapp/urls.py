import json

from django.http import JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt


def item(request, pk):
    return JsonResponse({"id": pk, "name": f"widget {pk}"})


@csrf_exempt
def items(request):
    data = json.loads(request.body or b"{}")
    return JsonResponse({"created": data.get("name", "")}, status=201)


def search(request):
    return JsonResponse({"q": request.GET.get("q", ""), "hits": []})


urlpatterns = [
    path("api/items/<int:pk>", item),
    path("api/items", items),
    path("api/search", search),
]
