from django.urls import path

from . import views

urlpatterns = [
    path("api/items/<int:pk>", views.item),
    path("api/items", views.create_item),
    path("api/users/<int:pk>", views.user),
]
