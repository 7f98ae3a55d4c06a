from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("gpus/", include("gpus.urls")),
    path("manage/notifications/", include("notifications.urls")),
    path("", include("containers.urls")),
]
