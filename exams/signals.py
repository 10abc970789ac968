"""Signals exams sends to the apps above it, which exams itself never imports."""

from django.dispatch import Signal

# A session ended (submitted, terminated or expired). Sent inside the transaction of the
# state change, after the session row is updated, with ``session`` and ``ended_at`` (an
# aware datetime). Receivers write in that transaction, so their changes commit or roll
# back with the end itself, and an exception they raise fails the transition: the record
# closes with the session or the session does not end. Receivers must not append to the
# integrity log before taking their own locks (monitoring's receiver takes the session's
# LiveState row lock first, as the stream does); the transition's own audit entry is
# written after the signal for that reason.
session_ended = Signal()
