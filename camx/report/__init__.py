"""Reports: records → tables → one writer per format → figures.

- records: eval records (:mod:`camx.results` reads and writes ``metrics.json``); a study's records are
  grouped and summarised over training seeds in :mod:`camx.report.groups`;
- tables: :class:`camx.report.tables.Cell` (mean and 95% CI) and :func:`camx.report.tables.ci_table`;
- writers: :func:`camx.report.markdown.table` (every markdown table: ``metrics.md``, ``docs/RESULTS.md``,
  the demo's ``summary.md``, ``docs/PERFORMANCE.md``) and :mod:`camx.report.html` (``report.html``);
- figures: :mod:`camx.report.figures` (curves, heatmap grids and bars, drawn with :mod:`camx.figures`)
  and the map gallery :mod:`camx.report.gallery`.

The reports: an eval run's and a sweep's page (:mod:`camx.report.pages`, :mod:`camx.report.sweep`,
``camx report DIR``), the papers' studies (:mod:`camx.report.study`, ``camx report … --results``) and the
demo's summary (:mod:`camx.report.demo`, ``camx report DIR --demo SECONDS``).
"""
