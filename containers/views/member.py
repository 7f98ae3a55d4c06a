"""Pages for lab members: the dashboard, the request form and a request's progress."""

import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from containers import services
from containers.forms import ContainerRequestForm
from containers.models import Container, ContainerRequest, JobStep
from containers.permissions import get_request_for_owner, get_request_for_user
from containers.views.display import held_ip, labelled_steps, latest_job_with_steps, request_badge, request_container

logger = logging.getLogger(__name__)


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    container_requests = (
        ContainerRequest.objects.filter(member=request.user)
        .select_related("template", "container__address")
        .order_by("-created_at")
    )
    rows = [
        {
            "request": container_request,
            "badge": request_badge(container_request),
            "container": request_container(container_request),
            "ip": held_ip(request_container(container_request)),
        }
        for container_request in container_requests
    ]
    containers = [row for row in rows if row["container"] and row["container"].status != Container.Status.REMOVED]
    context = {"rows": rows, "containers": containers}

    # Administrators also see what waits for them.
    if request.user.is_staff:
        context["pending_count"] = ContainerRequest.objects.filter(status=ContainerRequest.Status.PENDING).count()
        context["failed_count"] = Container.objects.filter(status=Container.Status.FAILED).count()
    return render(request, "containers/dashboard.html", context)


@sensitive_post_parameters("password", "password_confirm")
@login_required
def request_create(request: HttpRequest) -> HttpResponse:
    form = ContainerRequestForm(request.POST or None, member=request.user)
    if request.method == "POST" and form.is_valid():
        container_request = form.save()
        if container_request is not None:
            logger.info(
                "Request %s for container %s submitted by user %s",
                container_request.pk,
                container_request.name,
                request.user.pk,
            )
            messages.success(request, _("Your request has been sent. An administrator will look at it soon."))
            return redirect("containers:request_detail", pk=container_request.pk)

    return render(request, "containers/request_form.html", {"form": form})


def request_state_context(container_request: ContainerRequest) -> dict:
    """Collect what the request page and its polled progress fragment show."""
    container = request_container(container_request)
    job = latest_job_with_steps(container) if container is not None else None
    steps = labelled_steps(job.steps.all()) if job is not None else []

    # The page polls while a decision or a job is still to come, and stops in
    # a final state (ready, failed, rejected, cancelled, removed).
    in_progress = container_request.status == ContainerRequest.Status.PENDING or (
        container is not None and container.status in (Container.Status.PROVISIONING, Container.Status.REMOVING)
    )

    return {
        "container_request": container_request,
        "container": container,
        "ip": held_ip(container),
        "job": job,
        "steps": steps,
        "failed_step": next((step for step in steps if step.status == JobStep.Status.FAILED), None),
        "badge": request_badge(container_request),
        "in_progress": in_progress,
    }


@login_required
def request_detail(request: HttpRequest, pk: int) -> HttpResponse:
    container_request = get_request_for_user(request.user, pk)
    return render(request, "containers/request_detail.html", request_state_context(container_request))


@login_required
def request_progress(request: HttpRequest, pk: int) -> HttpResponse:
    container_request = get_request_for_user(request.user, pk)
    return render(request, "containers/_request_state.html", request_state_context(container_request))


@require_POST
@login_required
def request_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    container_request = get_request_for_owner(request.user, pk)
    try:
        services.cancel_request(container_request.pk, request.user)
    except services.ServiceError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("Your request for %(name)s has been withdrawn.") % {"name": container_request.name})
    return redirect("containers:request_detail", pk=container_request.pk)
