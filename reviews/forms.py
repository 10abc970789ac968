"""Forms of the review pages: they parse and validate; services decide."""

from __future__ import annotations

from django import forms

from exams.models import Course, Exam
from monitoring.models import Incident
from reviews.models import ReviewDecision
from reviews.selectors import QueueStatus

NOTE_MAX = 2000


class QueueFilterForm(forms.Form):
    course = forms.ModelChoiceField(queryset=Course.objects.none(), required=False)
    exam = forms.ModelChoiceField(queryset=Exam.objects.none(), required=False)
    status = forms.ChoiceField(
        choices=[("", "Any status"), *QueueStatus.CHOICES], required=False
    )
    kind = forms.ChoiceField(
        label="Incident kind",
        choices=[("", "Any kind"), *Incident.Kind.choices],
        required=False,
    )

    def __init__(self, *args, courses, exams, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["course"].queryset = courses
        self.fields["course"].empty_label = "All my courses"
        self.fields["exam"].queryset = exams
        self.fields["exam"].empty_label = "All exams"


class IncidentDecisionForm(forms.Form):
    decision = forms.ChoiceField(
        choices=[
            (ReviewDecision.Decision.CONFIRM, "Confirm"),
            (ReviewDecision.Decision.DISMISS, "Dismiss"),
        ],
        widget=forms.RadioSelect,
    )
    note = forms.CharField(
        required=False, max_length=NOTE_MAX, widget=forms.Textarea(attrs={"rows": 2})
    )


class ReviewCloseForm(forms.Form):
    outcome = forms.ChoiceField(
        choices=[
            (ReviewDecision.Decision.CLOSE_CLEAR, "No violation"),
            (ReviewDecision.Decision.CLOSE_VIOLATION, "Violation"),
        ],
        widget=forms.RadioSelect,
    )
    note = forms.CharField(
        required=False, max_length=NOTE_MAX, widget=forms.Textarea(attrs={"rows": 3})
    )


class AppealForm(forms.Form):
    text = forms.CharField(
        label="Your response",
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text="Explain anything reviewers should know about what was flagged "
        "(up to 4,000 characters). You can send one response.",
    )
