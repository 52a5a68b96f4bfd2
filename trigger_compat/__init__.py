"""trigger-compat: a PostgreSQL job queue with trigger.dev ZodWorker / graphile-worker semantics."""

from .async_client import AsyncClient
from .client import Client
from .core.catalog import Catalog, load_catalog
from .core.jobs import Job, JobKeyMode, JobSpec
from .core.options import JobOptions
from .core.outcomes import JobCancel, JobSnooze
from .core.sqlfiles import DEFAULT_SCHEMA
from .errors import (
    CatalogError,
    CatalogRequiredError,
    DatabaseUnavailableError,
    DuplicateJobKeyError,
    InvalidJobError,
    PayloadValidationError,
    Problem,
    SchemaAheadError,
    SchemaError,
    SchemaNotMigratedError,
    TransactionConflictError,
    TriggerCompatError,
    UnknownTaskError,
)
from .runtime.worker import Worker, WorkerOptions
from .runtime.zodworker import ZodWorker

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_SCHEMA",
    "AsyncClient",
    "Catalog",
    "CatalogError",
    "CatalogRequiredError",
    "Client",
    "DatabaseUnavailableError",
    "DuplicateJobKeyError",
    "InvalidJobError",
    "Job",
    "JobCancel",
    "JobKeyMode",
    "JobOptions",
    "JobSnooze",
    "JobSpec",
    "PayloadValidationError",
    "Problem",
    "SchemaAheadError",
    "SchemaError",
    "SchemaNotMigratedError",
    "TransactionConflictError",
    "TriggerCompatError",
    "UnknownTaskError",
    "Worker",
    "WorkerOptions",
    "ZodWorker",
    "__version__",
    "load_catalog",
]
