"""Signals other apps connect to so that shredding reaches their per-session data.

``session_shredding`` is sent inside the shredding transaction, after the session's data
key is destroyed and before the ShredRecord is written, with ``session`` (an ExamSession).
A receiver deletes or empties its own rows for that session (e.g. a spool of frames not yet
uploaded) and returns how many stored objects it scheduled for deletion, or None.
An exception in a receiver rolls the whole shred back, so nothing is half-shredded.
"""

from django.dispatch import Signal

session_shredding = Signal()
