"""trigger-compat: a PostgreSQL job queue with trigger.dev ZodWorker / graphile-worker semantics."""

from .async_client import AsyncClient
from .client import Client
from .core.catalog import Catalog, load_catalog
from .core.jobs import Job, JobKeyMode, JobSpec
from .core.options import JobOptions
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
    "JobKeyMode",
    "JobOptions",
    "JobSpec",
    "PayloadValidationError",
    "Problem",
    "SchemaAheadError",
    "SchemaError",
    "SchemaNotMigratedError",
    "TransactionConflictError",
    "TriggerCompatError",
    "UnknownTaskError",
    "__version__",
    "load_catalog",
]
