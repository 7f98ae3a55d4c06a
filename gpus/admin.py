"""Django admin for GPU data: read-only, because only the collection task writes it.

Deleting a `Gpu` is allowed, so that an administrator can mark a board listed
as missing as removed on purpose.
"""

from django.contrib import admin

from gpus.models import Gpu, GpuHostStatus, HostSample


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Gpu)
class GpuAdmin(ReadOnlyAdmin):
    list_display = ("host", "index", "name", "uuid", "minor_number", "persistence_mode", "last_seen_at", "lost_at")
    list_filter = ("host", "lost_at")
    search_fields = ("uuid", "name", "pci_bus_id")


@admin.register(GpuHostStatus)
class GpuHostStatusAdmin(ReadOnlyAdmin):
    list_display = (
        "host",
        "last_success_at",
        "last_attempt_at",
        "failure_kind",
        "consecutive_failures",
        "driver_version",
    )

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(HostSample)
class HostSampleAdmin(ReadOnlyAdmin):
    list_display = ("host", "taken_at", "ok", "failure_kind", "gpu_count", "process_count")
    list_filter = ("host", "ok", "failure_kind")
    date_hierarchy = "taken_at"

    def has_delete_permission(self, request, obj=None):
        return False
