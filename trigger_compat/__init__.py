"""trigger-compat: a PostgreSQL job queue with trigger.dev ZodWorker / graphile-worker semantics.

The names below are imported on first use, so that ``import trigger_compat`` (and with it a
worker, a probe or a CLI command) loads only the modules it needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import (
    CatalogError,
    CatalogRequiredError,
    ConfigurationError,
    CronError,
    DatabaseUnavailableError,
    DuplicateJobKeyError,
    InvalidArgumentError,
    InvalidJobError,
    PayloadValidationError,
    Problem,
    SchemaAheadError,
    SchemaError,
    SchemaNotMigratedError,
    TemplateError,
    TransactionConflictError,
    TransferRefusedError,
    TriggerCompatError,
    UnknownTaskError,
    WorkerConfigError,
)

if TYPE_CHECKING:
    from .async_client import AsyncClient, AsyncTransaction
    from .client import Client, Transaction
    from .core.catalog import Catalog
    from .core.catalog_loader import load_catalog
    from .core.jobs import Job, JobKeyMode, JobSpec
    from .core.options import JobOptions
    from .core.outcomes import JobCancel, JobSnooze
    from .core.sqlfiles import DEFAULT_SCHEMA
    from .runtime.worker import Worker, WorkerOptions
    from .runtime.zodworker import ZodWorker

__version__ = "0.1.0"

# public name -> the module that defines it (the errors above are imported at once: small)
_HOMES: dict[str, str] = {
    "AsyncClient": ".async_client",
    "Client": ".client",
    "AsyncTransaction": ".async_client",
    "Transaction": ".client",
    "Catalog": ".core.catalog",
    "load_catalog": ".core.catalog_loader",
    "Job": ".core.jobs",
    "JobKeyMode": ".core.jobs",
    "JobSpec": ".core.jobs",
    "JobOptions": ".core.options",
    "JobCancel": ".core.outcomes",
    "JobSnooze": ".core.outcomes",
    "DEFAULT_SCHEMA": ".core.sqlfiles",
    "Worker": ".runtime.worker",
    "WorkerOptions": ".runtime.worker",
    "ZodWorker": ".runtime.zodworker",
}

__all__ = [
    "DEFAULT_SCHEMA",
    "AsyncClient",
    "AsyncTransaction",
    "Catalog",
    "CatalogError",
    "CatalogRequiredError",
    "Client",
    "ConfigurationError",
    "CronError",
    "DatabaseUnavailableError",
    "DuplicateJobKeyError",
    "InvalidArgumentError",
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
    "TemplateError",
    "Transaction",
    "TransactionConflictError",
    "TransferRefusedError",
    "TriggerCompatError",
    "UnknownTaskError",
    "Worker",
    "WorkerConfigError",
    "WorkerOptions",
    "ZodWorker",
    "__version__",
    "load_catalog",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'trigger_compat' has no attribute {name!r}")
    value = getattr(importlib.import_module(home, __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return __all__
