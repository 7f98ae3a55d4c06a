"""Template tags for the notification links in the site navigation."""

from django import template

from notifications.models import EmailNotification

register = template.Library()


@register.simple_tag
def failed_notification_count() -> int:
    """Count the e-mails marked failed, with one query, for the staff navigation's badge."""
    return EmailNotification.objects.filter(status=EmailNotification.Status.FAILED).count()
