"""The accounting page's period."""

from datetime import date, datetime, time, timedelta

from django import forms
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

DEFAULT_PERIOD_DAYS = 7


class AccountingPeriodForm(forms.Form):
    """A period of whole days, both ends included, in the portal's time zone."""

    start = forms.DateField(label=_("From"), widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(
        label=_("To"),
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("Both days are included."),
    )

    @classmethod
    def default_initial(cls, today: date) -> dict[str, date]:
        return {"start": today - timedelta(days=DEFAULT_PERIOD_DAYS - 1), "end": today}

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end and end < start:
            raise forms.ValidationError(_("The end date must not come before the start date."))
        if start and start < timezone.localdate() - timedelta(days=settings.GPU_ROLLUP_RETENTION_DAYS):
            self.add_error(
                "start",
                _("GPU history is kept %(days)s days; choose a later start date.")
                % {"days": settings.GPU_ROLLUP_RETENTION_DAYS},
            )
        return cleaned

    def period(self) -> tuple[datetime, datetime]:
        """Return [start, end) as aware datetimes: from the first day's midnight to the day after the last."""
        zone = timezone.get_current_timezone()
        start = datetime.combine(self.cleaned_data["start"], time.min, tzinfo=zone)
        end = datetime.combine(self.cleaned_data["end"] + timedelta(days=1), time.min, tzinfo=zone)
        return start, end
