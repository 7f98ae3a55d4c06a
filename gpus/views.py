"""GPU pages: the overview for everyone signed in, a container's GPU use, and accounting."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.utils import timezone

from containers.permissions import get_container_for_user, staff_required
from gpus.forms import AccountingPeriodForm
from gpus.queries import account_usage, container_usage, gpu_overview


@login_required
def overview(request):
    """Show every collecting host's GPUs and the containers using their memory, with more detail for administrators."""
    is_admin = request.user.is_staff
    hosts = gpu_overview(timezone.now(), include_idle=is_admin)
    return render(
        request,
        "gpus/overview.html",
        {
            "hosts": hosts,
            "is_admin": is_admin,
            "idle_minutes": settings.GPU_IDLE_MINUTES,
            "idle_percent": settings.GPU_IDLE_UTILIZATION_PERCENT,
        },
    )


@login_required
def container_gpu(request, pk: int):
    """Show one container's GPU memory and its GPUs' utilisation, now and over the last day and week."""
    container = get_container_for_user(request.user, pk)
    usage = container_usage(container, timezone.now())
    charts = {
        "day_memory": [series.as_json() for series in usage.day_memory],
        "day_utilization": [series.as_json() for series in usage.day_utilization],
        "week_memory": [series.as_json() for series in usage.week_memory],
        "week_utilization": [series.as_json() for series in usage.week_utilization],
    }
    return render(request, "gpus/container_gpu.html", {"container": container, "usage": usage, "charts": charts})


@staff_required
def accounting(request):
    """Show GPU memory-hours and GPU-hours per member and per container over a chosen period."""
    if "start" in request.GET or "end" in request.GET:
        form = AccountingPeriodForm(request.GET)
    else:
        form = AccountingPeriodForm(AccountingPeriodForm.default_initial(timezone.localdate()))
    members, containers = [], []
    if form.is_valid():
        members, containers = account_usage(*form.period())
    return render(request, "gpus/accounting.html", {"form": form, "members": members, "containers": containers})
