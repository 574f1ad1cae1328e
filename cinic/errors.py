"""The one base class of every error a user can cause and fix.

Each module raises its own subclass (DataError, ConfigError, ...) whose
message names the file or setting at fault and says what to do. The CLI and
the app's pages catch `CinicError` by type and show that message as one line;
anything else escaping is a bug and is reported as one.
"""

from __future__ import annotations


class CinicError(ValueError):
    """A user-facing error: its message alone tells a person what went wrong and what to do.

    A ValueError too, so code that validates with plain ValueError checks
    keeps working while it moves over.
    """
