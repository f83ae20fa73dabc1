"""The Prometheus page-state exporter: which processes (:mod:`.members`, by :mod:`.groups` and
by the container the domain recognizes, ``app.pagemap.cgroups``), the counts of one
(:mod:`.count`), kept files from one collection to the next (:mod:`.counter`), and the collector
the registry scrapes (:mod:`.collector`).

No HTTP here: ``GET /metrics`` awaits :meth:`.collector.PageStateExporter.refresh`, then renders
the registry the collector is registered in.
"""
