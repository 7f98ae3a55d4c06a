from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from notifications import services
from notifications.models import EmailNotification


@admin.register(EmailNotification)
class EmailNotificationAdmin(admin.ModelAdmin):
    """Read-only record of the e-mails sent; failed ones can be sent again."""

    list_display = ["created_at", "kind", "recipient", "subject", "status", "attempts", "sent_at"]
    list_filter = ["status", "kind", "language"]
    search_fields = ["recipient__username", "recipient__email", "subject"]
    date_hierarchy = "created_at"
    list_select_related = ["recipient"]
    actions = ["send_again"]
    readonly_fields = [field.name for field in EmailNotification._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description=_("Send the selected failed e-mails again"), permissions=["view"])
    def send_again(self, request, queryset) -> None:
        queued = 0
        for notification in queryset.filter(status=EmailNotification.Status.FAILED):
            if services.send_again(notification.pk, request.user):
                queued += 1
        self.message_user(
            request,
            ngettext("%(count)d e-mail queued again.", "%(count)d e-mails queued again.", queued) % {"count": queued},
            messages.SUCCESS,
        )
