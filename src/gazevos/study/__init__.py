"""Studies: many recordings annotated as Dask tasks, merged tables, group statistics and a
report (``gazevos study``; see :mod:`gazevos.study.runner` and docs/study.md)."""
