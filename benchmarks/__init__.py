"""iblpipe benchmarks: one command, one table (``make bench`` or ``python -m benchmarks``).

On the demo lab (``iblpipe demo generate``, ``--mice 200`` by default: IBL scale), mirrored and
populated on a private embedded MariaDB (or ``$DJ_HOST`` when set), the table gives for each
measure our median, the comparison measured in the same run, their ratio and the goal:

- one mouse's whole trial history as a DataFrame by the standard call ``(Trials & key).to_pandas()``
  and ``.fetch(format='frame')`` (the columnar path), vs DataJoint 2.3.5's own ``to_pandas`` of the
  same query, vs ONE loading the same sessions from the lab's local cache and vs the raw pymysql
  SELECT of the same SQL; the same with session and subject joined in; reading the mouse's
  exported ``_ibl_subjectTrials.table.pqt``;
- one region's unit table (``ephys.RegionUnits & acronym``) vs a group-by over the ALF
  cluster files loaded with ONE, and ``ephys.units(acronym)`` (one row per unit);
- every trial of the lab into one Arrow table (``behavior.Trials().to_arrow()``, in its own
  process: seconds and peak memory against the table's size, ``benchmarks.lab_arrow``);
- the cold run (``iblpipe ingest``, ``populate --tables all``, ``plot``), with sessions/s and trials/s;
- ``iblpipe nightly`` after one new session per mouse, vs the cold run;
- the database-side queries on a database 10x larger (``benchmarks.scale``): flat means indexes
  are used, and the ratios to ONE and to DataJoint's own hold there too;
- the peak memory (ru_maxrss) of a populate worker.

Queries: medians of ``--runs`` (default 5) timed calls after one warm-up call. The cold run and
the nightly run are single runs (a cold run at IBL scale takes hours). Results: a JSON file under
``benchmarks/results/`` (not committed, except the dated ``reference-*.json``), with the machine
(cpus, memory, Python, MariaDB version) and every individual time.

The scripts ``behavior.py``, ``region_units.py`` and ``mirror.py`` still run alone on synthetic
tables (``python -m benchmarks.behavior --help``); the suite imports their measuring functions.
A smoke run (``make bench-smoke``: 3 mice, 1 run) is a test; the benchmark itself is not.

``--queries-only`` gives the query measures where a whole cold populate would take hours (IBL
scale on two cores): it mirrors the lab and imports only trials and units, then times the
queries at 1x and at ``--scale`` (10x by default); no fits, figures or nightly run.
Code: ``suite.py`` (stages, resume), ``stages.py`` (cold, nightly, inflate), ``queries.py``,
``measures.py`` (the table).
"""
