"""URLs: the catalog page, the admin and django-health-check's endpoint at /ht/."""

from catalog.views import index
from django.contrib import admin
from django.urls import path
from health_check.views import HealthCheckView

urlpatterns = [
    path("", index, name="index"),
    path("admin/", admin.site.urls),
    path(
        "ht/",
        HealthCheckView.as_view(
            checks=[
                "health_check.checks.Cache",
                "health_check.checks.Database",
                "health_check.checks.Storage",
                "catalog.health.InjectedFault",
            ]
        ),
        name="health_check",
    ),
]
