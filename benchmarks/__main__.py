"""``python -m benchmarks``: the whole benchmark (see ``benchmarks/__init__.py``)."""

from benchmarks.suite import main

raise SystemExit(main())
