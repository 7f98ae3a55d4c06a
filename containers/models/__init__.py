from containers.models.base import InvalidTransition, StatusModel
from containers.models.jobs import JobLogLine, JobStep, ProvisioningJob
from containers.models.lab import Address, Host, Subnet, Template
from containers.models.requests import AuditEntry, Container, ContainerRequest

__all__ = [
    "Address",
    "AuditEntry",
    "Container",
    "ContainerRequest",
    "Host",
    "InvalidTransition",
    "JobLogLine",
    "JobStep",
    "ProvisioningJob",
    "StatusModel",
    "Subnet",
    "Template",
]
