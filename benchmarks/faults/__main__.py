"""``python -m benchmarks.faults``: the fault suite (see ``benchmarks/faults/__init__.py``)."""

from benchmarks.faults.suite import main

raise SystemExit(main())
