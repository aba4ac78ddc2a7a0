from django.urls import path

from . import views

urlpatterns = [
    path("api/items/<int:pk>", views.item),
    path("api/items", views.create_item),
    path("api/async/<int:n>", views.async_item),
    path("api/boom", views.boom),
    path("api/async-boom", views.async_boom),
    path("api/stream", views.stream),
    path("api/async-stream", views.async_stream),
    path("api/file", views.file_download),
    path("api/upload", views.upload),
    path("api/read-stream", views.read_stream),
    path("api/binary", views.binary),
    path("api/big", views.big),
    path("api/echo", views.echo),
    path("api/status/<int:code>", views.status),
    path("api/pid/<int:n>", views.pid),
    path("api/outgoing", views.outgoing),
    path("api/async-outgoing", views.async_outgoing),
    path("api/outgoing-fail", views.outgoing_fail),
    path("api/observed", views.observed),
    path("api/report-errors", views.report_errors),
    path("api/account", views.account),
    path("api/boom-url", views.boom_url),
    path("api/redirect", views.redirect_to),
    path("api/outgoing-urls", views.outgoing_urls),
    path("health", views.health),
    path("api/huge", views.huge),
    path("api/raw-input", views.raw_input),
    path("api/drf-error", views.drf_error),
]
