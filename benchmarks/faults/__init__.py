"""The fault suite (``make faults``): what a crash, a race or a bad input does to the pipeline's data.

On a small demo lab (3 mice, 16 sessions each) and a private embedded MariaDB, a clean ingest and
populate give the reference tables; each case then runs under its own schema prefix and is compared
with the reference table by table (row count and a content checksum of every row; jobs tables and
``IngestRun`` left out):

- ``kills``: 20 populate workers SIGKILLed at random moments, then one clean populate; the server
  SIGKILLed 5 times during one populate (the worker restarts it), 5 times mid-ingest (a plain re-run
  follows), 2 times while ``populate --processes 2`` starts;
- ``concurrency``: two identical ingests at once, an ingest deleting sessions while two workers
  populate, four workers, two nightlies on one database from two hosts;
- ``bad_inputs``: every bad input the project knows, one row each: exit code, the line a user reads,
  whether the other sessions completed and whether anything was left half-written or deleted.

Figures reported: partial (differing) tables, missing and extra rows, keys made twice, jobs left in
error or reserved, seconds until the work resumed after a server kill. The suite measures and never
fails on a bad figure: the figures are the result. ``--quick`` runs one or two of each fault (the
smoke test in ``make test``). Results: ``benchmarks/results/faults-<date>.json``.
"""
