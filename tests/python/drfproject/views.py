from django.http import HttpResponse, JsonResponse
from rest_framework import exceptions, viewsets
from rest_framework.response import Response


class ItemViewSet(viewsets.ViewSet):
    def list(self, request, format=None):
        return Response([{"id": 1}, {"id": 2}])

    def retrieve(self, request, pk=None, format=None):
        if pk == "404":
            raise exceptions.NotFound("no such item")
        if pk == "500":
            return Response({"ratio": 1 / 0})
        return Response({"id": pk, "user": getattr(request.user, "pk", None)})

    def create(self, request):
        # request.data: DRF's parser reads the body OTAS read first.
        return Response({"name": request.data["name"], "fields": sorted(request.data)},
                        status=201)


def legacy(request, year, num):
    return JsonResponse({"year": year, "num": num})


def health(request):
    return HttpResponse("ok")
