"""Administrators' pages for containers and their jobs: list, job log, retry, abandon and remove."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from containers import services
from containers.models import Container, ProvisioningJob
from containers.permissions import get_container_for_staff, get_job_for_staff, staff_required
from containers.views.display import FINAL_JOB_STATUSES, badge_for, labelled_steps

CONTAINERS_PER_PAGE = 100


@staff_required
def container_list(request: HttpRequest) -> HttpResponse:
    containers = (
        Container.objects.select_related("owner", "host", "template", "address__subnet")
        .prefetch_related(
            Prefetch(
                "jobs", queryset=ProvisioningJob.objects.order_by("-created_at", "-pk"), to_attr="jobs_newest_first"
            )
        )
        .order_by("name", "pk")
    )
    status = request.GET.get("status", "")
    if status in Container.Status.values:
        containers = containers.filter(status=status)
    else:
        status = ""
    page = Paginator(containers, CONTAINERS_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "containers/manage/container_list.html",
        {"page": page, "status": status, "statuses": Container.Status.choices},
    )


def job_context(job: ProvisioningJob) -> dict:
    return {
        "job": job,
        "job_badge": badge_for(job),
        "container_badge": badge_for(job.container),
        "container": job.container,
        "steps": labelled_steps(job.steps.order_by("position")),
        "log_lines": list(job.log_lines.order_by("created_at", "pk")),
        "in_progress": job.status not in FINAL_JOB_STATUSES,
        "can_retry": job.status == ProvisioningJob.Status.FAILED,
        "can_abandon": job.container.status == Container.Status.FAILED,
    }


@staff_required
def job_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_job_for_staff(request.user, pk)
    other_jobs = job.container.jobs.exclude(pk=job.pk).order_by("-created_at")
    return render(request, "containers/manage/job_detail.html", {**job_context(job), "other_jobs": other_jobs})


@staff_required
def job_progress(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_job_for_staff(request.user, pk)
    return render(request, "containers/manage/_job_state.html", job_context(job))


@require_POST
@staff_required
def retry_job(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_job_for_staff(request.user, pk)
    try:
        services.retry_job(job.pk, request.user)
    except services.ServiceError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("The job has been queued again and resumes at the step that failed."))
    return redirect("containers:job_detail", pk=job.pk)


@staff_required
def abandon_container_confirm(request: HttpRequest, pk: int) -> HttpResponse:
    container = get_container_for_staff(request.user, pk)
    return render(request, "containers/manage/abandon_confirm.html", {"container": container})


@require_POST
@staff_required
def abandon_container(request: HttpRequest, pk: int) -> HttpResponse:
    container = get_container_for_staff(request.user, pk)
    try:
        removal = services.abandon_container(container.pk, request.user)
    except services.ServiceError as error:
        messages.error(request, str(error))
        return redirect("containers:container_list")

    messages.success(
        request,
        _("%(name)s is being removed; its IP address is released when the removal finishes.")
        % {"name": container.name},
    )
    return redirect("containers:job_detail", pk=removal.pk)


@staff_required
def remove_container_confirm(request: HttpRequest, pk: int) -> HttpResponse:
    container = get_container_for_staff(request.user, pk)
    return render(request, "containers/manage/remove_confirm.html", {"container": container})


@require_POST
@staff_required
def remove_container(request: HttpRequest, pk: int) -> HttpResponse:
    container = get_container_for_staff(request.user, pk)
    try:
        removal = services.remove_container(container.pk, request.user)
    except services.ServiceError as error:
        messages.error(request, str(error))
        return redirect("containers:container_list")

    messages.success(
        request,
        _("%(name)s is being removed; its IP address is released when the removal finishes.")
        % {"name": container.name},
    )
    return redirect("containers:job_detail", pk=removal.pk)
