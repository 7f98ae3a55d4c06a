"""Administrators' pages for deciding requests: the pending list, approve and reject."""

import logging

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from containers import services
from containers.forms import ApproveForm, RejectForm
from containers.models import Container, ContainerRequest
from containers.permissions import get_request_for_user, staff_required
from containers.views.display import free_addresses

logger = logging.getLogger(__name__)


def first_error(form) -> str:
    return next(iter(form.errors.values()))[0]


@staff_required
def pending_requests(request: HttpRequest) -> HttpResponse:
    pending = list(
        ContainerRequest.objects.filter(status=ContainerRequest.Status.PENDING)
        .select_related("member", "template__host__subnet")
        .order_by("created_at")
    )
    subnets = {r.template.host.subnet_id: r.template.host.subnet for r in pending if r.template.host.subnet_id}
    free = free_addresses(subnets.values())
    rows = [
        {"request": r, "free_addresses": free.get(r.template.host.subnet_id, []), "subnet": r.template.host.subnet}
        for r in pending
    ]
    failed_count = Container.objects.filter(status=Container.Status.FAILED).count()
    return render(
        request,
        "containers/manage/pending_requests.html",
        {"rows": rows, "failed_count": failed_count, "reject_form": RejectForm()},
    )


@require_POST
@staff_required
def approve_request(request: HttpRequest, pk: int) -> HttpResponse:
    container_request = get_request_for_user(request.user, pk)
    form = ApproveForm(request.POST)
    if not form.is_valid():
        messages.error(request, first_error(form))
        return redirect("containers:pending_requests")

    try:
        container = services.approve_request(container_request.pk, request.user, ip=form.cleaned_data["ip"] or None)
    except services.ServiceError as error:
        messages.error(request, str(error))
    else:
        messages.success(
            request,
            _("Approved %(name)s for %(member)s at %(ip)s. The container is being built.")
            % {"name": container.name, "member": container_request.member.username, "ip": container.address.ip},
        )
    return redirect("containers:pending_requests")


@require_POST
@staff_required
def reject_request(request: HttpRequest, pk: int) -> HttpResponse:
    container_request = get_request_for_user(request.user, pk)
    form = RejectForm(request.POST)
    if not form.is_valid():
        messages.error(request, first_error(form))
        return redirect("containers:pending_requests")

    try:
        services.reject_request(container_request.pk, request.user, form.cleaned_data["reason"])
    except services.ServiceError as error:
        messages.error(request, str(error))
    else:
        messages.success(
            request,
            _("Rejected the request for %(name)s by %(member)s.")
            % {"name": container_request.name, "member": container_request.member.username},
        )
    return redirect("containers:pending_requests")
