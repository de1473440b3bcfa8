"""iblpipe: IBL-style DataJoint pipeline for Alyx metadata, ALF behaviour and ephys.

Importing the package has no side effects: no connection, no environment reads,
no directories, no logging configuration. See ``iblpipe.schemas.activate``.
"""

__version__ = "0.1.0"
