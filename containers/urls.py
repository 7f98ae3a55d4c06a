from django.urls import path

from containers.views import manage_jobs, manage_requests, manage_subnets, member

app_name = "containers"

urlpatterns = [
    # Members.
    path("requests/new/", member.request_create, name="request_create"),
    path("requests/<int:pk>/", member.request_detail, name="request_detail"),
    path("requests/<int:pk>/progress/", member.request_progress, name="request_progress"),
    path("requests/<int:pk>/cancel/", member.request_cancel, name="request_cancel"),
    # Administrators.
    path("manage/requests/", manage_requests.pending_requests, name="pending_requests"),
    path("manage/requests/<int:pk>/approve/", manage_requests.approve_request, name="approve_request"),
    path("manage/requests/<int:pk>/reject/", manage_requests.reject_request, name="reject_request"),
    path("manage/jobs/<int:pk>/", manage_jobs.job_detail, name="job_detail"),
    path("manage/jobs/<int:pk>/progress/", manage_jobs.job_progress, name="job_progress"),
    path("manage/jobs/<int:pk>/retry/", manage_jobs.retry_job, name="retry_job"),
    path("manage/containers/", manage_jobs.container_list, name="container_list"),
    path(
        "manage/containers/<int:pk>/abandon/confirm/",
        manage_jobs.abandon_container_confirm,
        name="abandon_container_confirm",
    ),
    path("manage/containers/<int:pk>/abandon/", manage_jobs.abandon_container, name="abandon_container"),
    path(
        "manage/containers/<int:pk>/remove/confirm/",
        manage_jobs.remove_container_confirm,
        name="remove_container_confirm",
    ),
    path("manage/containers/<int:pk>/remove/", manage_jobs.remove_container, name="remove_container"),
    path("manage/subnets/", manage_subnets.subnet_list, name="subnet_list"),
    path("manage/subnets/<int:pk>/", manage_subnets.subnet_detail, name="subnet_detail"),
]
