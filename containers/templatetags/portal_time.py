"""Times as people read them: relative ("3 minutes ago"), with the exact local time on hover."""

from datetime import datetime

from django import template
from django.contrib.humanize.templatetags.humanize import naturaltime
from django.utils import timezone
from django.utils.dateformat import format as format_date
from django.utils.html import format_html

register = template.Library()


@register.simple_tag
def relative_time(value: datetime | None) -> str:
    """Render `value` as a <time> element: relative text, exact time in TIME_ZONE as its title.

    Relative text suits events of the last days; the title keeps the exact
    time one hover away, and the datetime attribute keeps it for machines.
    """
    if value is None:
        return ""
    local = timezone.localtime(value)
    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
        value.isoformat(),
        format_date(local, "Y-m-d H:i:s T"),
        naturaltime(value),
    )
