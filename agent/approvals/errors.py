"""The approval queue's one error type, at the bottom of the package: it imports nothing of it.

`ApprovalError` is a refused or impossible queue operation (an actor who is not a registered
person, a draft that changed meanwhile, an export that would overwrite a file); the command line
and the app print it as one line, never a traceback.
"""

from __future__ import annotations

from tools.errors import RetentionError


class ApprovalError(RetentionError):
    """A refused or impossible queue operation; printed as one line."""
