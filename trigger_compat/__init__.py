"""trigger-compat: a PostgreSQL job queue with trigger.dev ZodWorker / graphile-worker semantics."""

from .async_client import AsyncClient
from .client import Client
from .core.jobs import Job, JobKeyMode, JobSpec
from .core.sqlfiles import DEFAULT_SCHEMA
from .errors import (
    DatabaseUnavailableError,
    DuplicateJobKeyError,
    InvalidJobError,
    SchemaAheadError,
    SchemaError,
    SchemaNotMigratedError,
    TriggerCompatError,
)

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_SCHEMA",
    "AsyncClient",
    "Client",
    "DatabaseUnavailableError",
    "DuplicateJobKeyError",
    "InvalidJobError",
    "Job",
    "JobKeyMode",
    "JobSpec",
    "SchemaAheadError",
    "SchemaError",
    "SchemaNotMigratedError",
    "TriggerCompatError",
    "__version__",
]
