"""Staff pages for e-mails that could not be sent."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from notifications import services
from notifications.models import EmailNotification

FAILURES_PER_PAGE = 50


def require_staff(user) -> None:
    """Raise PermissionDenied unless the signed-in user is a lab administrator."""
    if not user.is_staff:
        raise PermissionDenied


@login_required
@require_GET
def failures(request: HttpRequest) -> HttpResponse:
    require_staff(request.user)

    notifications = EmailNotification.objects.filter(status=EmailNotification.Status.FAILED).select_related(
        "recipient", "request"
    )
    page = Paginator(notifications, FAILURES_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "notifications/failures.html", {"page": page})


@login_required
@require_POST
def send_again(request: HttpRequest, pk: int) -> HttpResponse:
    require_staff(request.user)
    notification = get_object_or_404(EmailNotification, pk=pk)

    if services.send_again(notification.pk, request.user):
        messages.success(
            request, _("The e-mail to %(recipient)s is queued again.") % {"recipient": notification.recipient}
        )
    else:
        messages.info(request, _("This e-mail is not marked as failed any more, so it was not queued again."))
    return redirect("notifications:failures")
