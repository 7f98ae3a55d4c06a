"""Django admin for the lab's configuration: hosts, templates and subnets.

Requests, containers, jobs and audit entries are shown read-only. Their
changes must go through containers.services, which reserves addresses,
writes the audit trail and queues tasks, and the portal's own pages call it.
"""

from django.contrib import admin

from containers.models import (
    Address,
    AuditEntry,
    Container,
    ContainerRequest,
    Host,
    JobLogLine,
    JobStep,
    ProvisioningJob,
    Subnet,
    Template,
)


@admin.register(Subnet)
class SubnetAdmin(admin.ModelAdmin):
    list_display = ("name", "cidr", "gateway", "range_start", "range_end", "bridge")
    search_fields = ("name", "cidr")


@admin.register(Host)
class HostAdmin(admin.ModelAdmin):
    list_display = ("name", "endpoint", "project", "address", "subnet", "collects_gpu", "is_active")
    list_filter = ("is_active", "collects_gpu", "subnet")
    search_fields = ("name", "endpoint")


@admin.register(Template)
class TemplateAdmin(admin.ModelAdmin):
    list_display = ("name", "host", "source", "snapshot", "default_user", "cpu_limit", "memory_limit", "is_active")
    list_filter = ("is_active", "host")
    search_fields = ("name", "source")


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ContainerRequest)
class ContainerRequestAdmin(ReadOnlyAdmin):
    list_display = ("name", "member", "username", "template", "status", "created_at", "decided_by")
    list_filter = ("status", "template")
    search_fields = ("name", "username", "member__username")
    # The crypt hash is left out because no administrator needs to read it.
    exclude = ("password_hash",)


@admin.register(Container)
class ContainerAdmin(ReadOnlyAdmin):
    list_display = ("name", "owner", "host", "status", "created_at", "ready_at")
    list_filter = ("status", "host")
    search_fields = ("name", "owner__username", "username")


@admin.register(Address)
class AddressAdmin(ReadOnlyAdmin):
    list_display = ("ip", "subnet", "container", "created_at")
    list_filter = ("subnet",)
    search_fields = ("ip", "container__name")


class JobStepInline(admin.TabularInline):
    model = JobStep
    fields = ("position", "name", "status", "error", "started_at", "finished_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class JobLogLineInline(admin.TabularInline):
    model = JobLogLine
    fields = ("created_at", "step", "level", "message")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ProvisioningJob)
class ProvisioningJobAdmin(ReadOnlyAdmin):
    list_display = ("pk", "container", "kind", "status", "attempts", "created_at", "finished_at")
    list_filter = ("status", "kind")
    search_fields = ("container__name",)
    inlines = (JobStepInline, JobLogLineInline)


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "actor", "action", "request", "container", "detail")
    list_filter = ("action",)
    search_fields = ("actor__username", "request__name", "container__name", "detail")
