"""The worker metrics as a prometheus-client collector, for an application that serves its
own ``/metrics`` (needs ``pip install 'trigger-compat[prometheus]'``)::

    from prometheus_client import REGISTRY
    from trigger_compat.runtime.metrics import WorkerMetrics
    from trigger_compat.runtime.prometheus import MetricsCollector

    metrics = WorkerMetrics.for_database(database_url, schema="trigger_compat")
    metrics.attach(zod_worker)                 # a ZodWorker, a Worker or an EventEmitter
    REGISTRY.register(MetricsCollector(metrics))

Every scrape of the registry reads :meth:`WorkerMetrics.snapshot`: the same metrics, under
the same names, as the built-in endpoint of ``trigger-compat worker --metrics-port`` (see
:mod:`trigger_compat.runtime.metrics`); the database gauges are read at most once per
refresh interval, and only by the process that reports them.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from ..core.admin_ops import DatabaseSnapshot
from .metrics import MetricsSnapshot, WorkerMetrics, families


class MetricsCollector(Collector):
    """Collects ``metrics`` for a prometheus-client registry. ``database=False`` leaves the
    database gauges out (the in-process counters, histograms and running jobs stay)."""

    def __init__(self, metrics: WorkerMetrics, *, database: bool = True) -> None:
        self.metrics = metrics
        self.database = database

    def collect(self) -> Iterator[Metric]:
        yield from _metrics(self.metrics.snapshot(database=self.database))

    def describe(self) -> Iterator[Metric]:
        """The metric names without reading anything (the registry checks them for clashes
        when the collector is registered)."""
        every = MetricsSnapshot({}, {}, {}, {}, DatabaseSnapshot({}, {}), None, 0, True)
        yield from _metrics(every, samples=False)


def _metrics(snap: MetricsSnapshot, *, samples: bool = True) -> Iterator[Metric]:
    for family in families(snap):
        metric = Metric(family.name, family.help, family.kind)
        if samples:
            for name, labels, value in family.samples:
                metric.add_sample(name, labels, float(value))
        yield metric
