"""Signals of the review workspace, for apps above it (the LMS integration).

``review_closed`` is sent inside the transaction that closes a session's review, with
``session`` (an ExamSession) and ``decision`` (the closing ReviewDecision). A receiver
that sends something out does so on commit.
"""

from django.dispatch import Signal

review_closed = Signal()
