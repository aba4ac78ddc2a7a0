from django.urls import include, path, re_path
from rest_framework import routers

from . import views

router = routers.DefaultRouter()
router.register(r"items", views.ItemViewSet, basename="item")

urlpatterns = [
    path("api/", include(router.urls)),
    re_path(r"^legacy/([0-9]{4})/(\d+)/$", views.legacy),
    path("health", views.health),
]
