from django.contrib import admin
from django.urls import include, path

from accounts.views import set_language
from containers.views.member import dashboard

urlpatterns = [
    # Django's set_language, wrapped to also save a signed-in member's choice.
    path("i18n/setlang/", set_language, name="set_language"),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("gpus/", include("gpus.urls")),
    path("manage/notifications/", include("notifications.urls")),
    path("", dashboard, name="home"),
    path("", include("containers.urls")),
]
