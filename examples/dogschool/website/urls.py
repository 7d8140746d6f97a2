"""The school's pages, and the admin (where retell's event admin appears by itself)."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("dogschool.urls")),
]
