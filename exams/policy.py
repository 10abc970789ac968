"""Plain-language statements of an exam's proctoring policy, for the consent page.

Every sentence is derived from the exam's own fields, so what the student agrees to is
exactly what the system will do.
"""

from __future__ import annotations

from dataclasses import dataclass

from exams.models import Check, Exam

_METHOD_WORDS = {
    Exam.AnonymizationMethod.BLUR: "blurred",
    Exam.AnonymizationMethod.PIXELATE: "pixelated",
    Exam.AnonymizationMethod.MASK: "covered with a solid mask",
}


@dataclass(frozen=True)
class ConsentText:
    collected: list[str]
    anonymization: list[str]
    checks: list[str]
    who_sees: list[str]
    retention: list[str]


def consent_text(exam: Exam) -> ConsentText:
    checks = [Check(name).label for name in exam.enabled_checks if name in Check.values]
    method = _METHOD_WORDS[Exam.AnonymizationMethod(exam.anonymization_method)]
    collected = [
        f"Still images from your webcam, {exam.frame_rate_fps} per second, while the exam "
        "is in progress (not before, not after).",
        "Browser events: leaving the exam tab or window, leaving full screen, copy, cut "
        "and paste, reloading the page, the camera stopping.",
    ]
    if Check.SPEECH in exam.enabled_checks:
        collected.append(
            "Whether someone is speaking (voice activity only). Your voice itself is "
            "never recorded or stored."
        )
    anonymization = [
        f"Every face in every image is {method} on our server before anything is stored; "
        "nobody, reviewers included, ever sees your face.",
        "Image metadata (camera model, location, time stamps) is removed.",
        "If an image cannot be analysed, the whole image is blurred or dropped; it is "
        "never kept as it was.",
    ]
    if exam.blur_frame_when_no_face:
        anonymization.append("Images in which no face is found are blurred entirely.")
    who_sees = [
        f"The reviewers and instructors of {exam.course} see flagged moments, the "
        "anonymized images around them and the browser events.",
        "Every time one of them opens your session, it is recorded in an audit trail.",
        "You will see what was flagged and the outcome after the exam, and can respond.",
    ]
    retention = [
        f"Everything recorded is destroyed {exam.retention_days} days after your session "
        "ends (stored encrypted until then).",
    ]
    return ConsentText(
        collected=collected,
        anonymization=anonymization,
        checks=checks,
        who_sees=who_sees,
        retention=retention,
    )
