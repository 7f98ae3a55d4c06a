"""Access rules: who may see or change which request, container and job.

Members reach only their own requests and containers. Administrators are the
users with `is_staff`, and they reach everything. A member who asks for
another member's object gets 404, so the page does not reveal that it exists.
Views load objects only through these helpers.
"""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from containers.models import Container, ContainerRequest, ProvisioningJob


def require_staff(user) -> None:
    """Raise PermissionDenied unless `user` is a lab administrator."""
    if not (user.is_authenticated and user.is_active and user.is_staff):
        raise PermissionDenied


def staff_required(view):
    """Redirect anonymous users to the sign-in page and respond to members with 403."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        require_staff(request.user)
        return view(request, *args, **kwargs)

    return login_required(wrapper)


def requests_visible_to(user) -> QuerySet[ContainerRequest]:
    if user.is_staff:
        return ContainerRequest.objects.all()
    return ContainerRequest.objects.filter(member=user)


def get_request_for_user(user, pk: int) -> ContainerRequest:
    """Return the request if `user` made it or is an administrator; raise Http404 otherwise."""
    queryset = requests_visible_to(user).select_related("template", "member", "decided_by")
    return get_object_or_404(queryset, pk=pk)


def get_request_for_owner(user, pk: int) -> ContainerRequest:
    """Return the request only if `user` made it: withdrawing is the member's own decision."""
    return get_object_or_404(ContainerRequest, pk=pk, member=user)


def get_container_for_user(user, pk: int) -> Container:
    """Return the container if `user` owns it or is an administrator; raise Http404 otherwise."""
    queryset = Container.objects.select_related("owner", "host", "template", "address__subnet")
    if not user.is_staff:
        queryset = queryset.filter(owner=user)
    return get_object_or_404(queryset, pk=pk)


def get_container_for_staff(user, pk: int) -> Container:
    require_staff(user)
    return get_object_or_404(Container.objects.select_related("owner", "request"), pk=pk)


def get_job_for_staff(user, pk: int) -> ProvisioningJob:
    require_staff(user)
    queryset = ProvisioningJob.objects.select_related(
        "container__owner", "container__request", "container__host", "container__template", "container__address"
    )
    return get_object_or_404(queryset, pk=pk)
