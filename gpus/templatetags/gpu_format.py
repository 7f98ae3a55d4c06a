"""Template filters that print GPU quantities with their units."""

from django import template
from django.utils.formats import number_format
from django.utils.translation import gettext as _

register = template.Library()


@register.filter
def mib(value) -> str:
    """Format MiB as "512 MiB" or, from 1 GiB on, "12.5 GiB"; "–" when unknown."""
    if value is None or value == "":
        return "–"
    value = float(value)
    if value >= 1024:
        return _("%(amount)s GiB") % {"amount": number_format(value / 1024, 1)}
    return _("%(amount)s MiB") % {"amount": number_format(value, 0)}


@register.filter
def percent(value) -> str:
    if value is None or value == "":
        return "–"
    return f"{number_format(value, 0)} %"


@register.filter
def watts(value) -> str:
    if value is None or value == "":
        return "–"
    return _("%(amount)s W") % {"amount": number_format(value, 0)}


@register.filter
def celsius(value) -> str:
    if value is None or value == "":
        return "–"
    return f"{number_format(value, 0)} °C"
