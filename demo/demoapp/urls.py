from django.urls import path

from . import views

urlpatterns = [
    path("api/products", views.products),
    path("api/products/<int:pk>", views.product),
    path("api/search", views.search),
    path("api/orders", views.create_order),
    path("api/orders/<int:pk>", views.order),
    path("api/login", views.login),
    path("api/reports/export", views.export),
    path("health", views.health),
]
