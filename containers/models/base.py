"""Status transitions enforced in one place for every model that has a status."""

from django.db import models
from django.utils import timezone


class InvalidTransition(Exception):
    """Raised when a status change is not allowed from the row's current status."""


class StatusModel(models.Model):
    """A model whose `status` may change only along `TRANSITIONS`.

    Subclasses define `TRANSITIONS` as a mapping from each status to the set of
    statuses it may change to. `transition()` applies a change with one
    conditional UPDATE, so two processes racing on the same row cannot both
    win: the database settles it, not a read followed by a write.
    """

    TRANSITIONS: dict[str, set[str]] = {}

    class Meta:
        abstract = True

    @classmethod
    def sources_of(cls, target: str) -> list[str]:
        """Return the statuses from which `target` may be reached."""
        return [source for source, targets in cls.TRANSITIONS.items() if target in targets]

    def transition(self, target: str, **fields) -> bool:
        """Move this row to `target` if its status in the database allows it.

        Other `fields` are written in the same UPDATE. Return True if this call
        made the change; False if the row was in a status that does not lead to
        `target` (someone else changed it first, or the change is not allowed).
        Raise InvalidTransition if `target` is unreachable from every status.
        """
        sources = self.sources_of(target)
        if not sources:
            raise InvalidTransition(f"No status of {type(self).__name__} leads to {target!r}.")
        if "updated_at" in {f.name for f in self._meta.fields}:
            fields.setdefault("updated_at", timezone.now())

        changed = type(self).objects.filter(pk=self.pk, status__in=sources).update(status=target, **fields)
        if changed:
            self.status = target
            for name, value in fields.items():
                setattr(self, name, value)
        return bool(changed)

    def can_transition(self, target: str) -> bool:
        return target in self.TRANSITIONS.get(self.status, set())
