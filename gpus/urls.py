from django.urls import path

from gpus import views

app_name = "gpus"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("containers/<int:pk>/", views.container_gpu, name="container_gpu"),
    path("accounting/", views.accounting, name="accounting"),
]
