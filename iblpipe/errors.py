"""Project exceptions: one base class, clear subclasses.

Messages name the thing (session id, file, field, host:port) and what to do.
"""


class IblpipeError(Exception):
    """Base class of every error iblpipe raises on purpose."""


class ConfigError(IblpipeError):
    """Bad configuration or command-line input."""


class DatabaseUnavailable(IblpipeError):
    """The database server cannot be reached or started."""


class ServerUnreachable(DatabaseUnavailable):
    """Nothing answers at the server's address (refused or timed out): a worker waits and retries."""


class DbServerError(DatabaseUnavailable):
    """The embedded MariaDB server could not be installed, started or stopped."""


class SourceError(IblpipeError):
    """An ingest source (Alyx dump, Alyx REST, ONE cache) cannot be read."""


class DataError(IblpipeError):
    """Input data is inconsistent (lengths differ, times unsorted, field missing)."""


class ExportError(IblpipeError):
    """An export file or folder cannot be written (no permission, no space)."""
