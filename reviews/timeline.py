"""Draw a session's timeline as server-side SVG from plain rows (no ORM, no templates).

Everything is laid out on the exam's duration: incidents as bands in one lane per kind,
browser events as ticks, the face count as a coloured strip, head yaw/pitch and gaze
offset as lines. The drawing costs O(incidents + observations) arithmetic but its size is
bounded by the pixel width: overlapping bands are merged, ticks are deduplicated per
pixel column and observations are averaged per column, so 10,000 incidents stay a small
SVG. Only the incidents of the table page on show are drawn as links (with thumbnails
for the script in static/reviews/timeline.js); the table beside it is the text
alternative.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape
from typing import NamedTuple

from exams.kinds import BROWSER_KINDS

WIDTH = 1000
LEFT = 160  # room for lane labels
RIGHT = 16
PLOT_W = WIDTH - LEFT - RIGHT
LANE_H = 22
BAND_H = 14
STRIP_H = 14
POSE_H = 110
GAZE_H = 70
AXIS_H = 28
GAP = 10
POSE_RANGE_DEG = 60.0  # the plot clips at ±60°; a head turned further is "away" anyway
BUCKET_PX = 2  # observations are averaged over 2-unit columns (~400 points at most)

# One colour per kind; dark enough on white for graphics (WCAG 1.4.11, 3:1).
KIND_COLOURS = {
    "no_face": "#b3261e",
    "multiple_faces": "#7b1fa2",
    "looking_away": "#1565c0",
    "camera_blocked": "#5d4037",
    "camera_frozen": "#00695c",
    "speech": "#ad5700",
    "camera_ended": "#37474f",
}
BROWSER_COLOUR = "#283593"
TEXT = "#1a1a1a"
MUTED = "#5f6368"
FACE_COLOURS = {0: "#b3261e", 1: "#2e7d32", 2: "#e65100"}


class IncidentRow(NamedTuple):
    # Named tuples, not dataclasses: a page builds 10,000 of them and tuples are ~3×
    # cheaper to create.
    id: int
    kind: str
    kind_label: str
    severity: str
    status: str
    started_s: float  # seconds since 1970 (UTC), computed by the database
    ended_s: float | None
    confidence: float


class ObservationRow(NamedTuple):
    captured_s: float  # seconds since 1970 (UTC)
    face_count: int
    yaw_deg: float | None
    pitch_deg: float | None
    gaze_x: float | None
    gaze_y: float | None


@dataclass(frozen=True)
class Thresholds:
    yaw_deg: float
    pitch_deg: float
    gaze: float


def _fmt_offset(seconds_from_start: float) -> str:
    seconds = int(max(seconds_from_start, 0))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


def _nice_step_min(total_min: float) -> int:
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 240):
        if total_min / step <= 12:
            return step
    return 480


class _Scale:
    def __init__(self, start: datetime, end: datetime) -> None:
        self.start = start
        self.start_s = start.timestamp()
        self.span_s = max((end - start).total_seconds(), 1.0)

    def x(self, at: datetime) -> float:
        fraction = (at - self.start).total_seconds() / self.span_s
        return LEFT + min(max(fraction, 0.0), 1.0) * PLOT_W

    def spans(self, rows: Iterable[IncidentRow]) -> list[tuple[float, float]]:
        """``(x0, x1)`` of each row, at least 1.5 wide. Inlined: it runs 10,000 times."""
        start, per_s = self.start_s, PLOT_W / self.span_s
        out = []
        for row in rows:
            x0 = (row.started_s - start) * per_s
            x1 = (row.ended_s - start) * per_s if row.ended_s is not None else x0
            x0 = LEFT + (0.0 if x0 < 0 else PLOT_W if x0 > PLOT_W else x0)
            x1 = LEFT + (0.0 if x1 < 0 else PLOT_W if x1 > PLOT_W else x1)
            out.append((x0, x1 if x1 > x0 + 1.5 else x0 + 1.5))
        return out


def _merge(intervals: list[tuple[float, float]]) -> list[tuple[float, float, int]]:
    """Merge intervals that touch at drawing resolution; keep how many went into each."""
    merged: list[list[float]] = []
    for x0, x1 in sorted(intervals):
        if merged and x0 <= merged[-1][1] + 0.5:
            merged[-1][1] = max(merged[-1][1], x1)
            merged[-1][2] += 1
        else:
            merged.append([x0, x1, 1])
    return [(a, b, int(n)) for a, b, n in merged]


def _label(y: float, text: str) -> str:
    return (
        f'<text x="{LEFT - 8}" y="{y:.1f}" text-anchor="end" dominant-baseline="middle" '
        f'font-size="12" fill="{TEXT}">{escape(text)}</text>'
    )


def render_timeline_svg(
    *,
    start: datetime,
    end: datetime,
    deadline: datetime | None,
    ended_at: datetime | None,
    incidents: Sequence[IncidentRow],
    observations: Iterable[ObservationRow],
    kind_labels: Mapping[str, str],
    linked_ids: Iterable[int],
    selected_id: int | None,
    thumbnails: Mapping[int, str],
    incident_url: Callable[[int], str],
    thresholds: Thresholds,
) -> str:
    """Return the ``<svg>`` element (a trusted, escaped string) for one session."""
    scale = _Scale(start, end)
    parts: list[str] = []
    y = 4.0

    video_kinds = [k for k in kind_labels if k not in BROWSER_KINDS]
    by_kind: dict[str, list[IncidentRow]] = {}
    for row in incidents:
        by_kind.setdefault(row.kind, []).append(row)
    lanes = [k for k in video_kinds if k in by_kind]
    lane_y: dict[str, float] = {}

    # Incident bands, one lane per kind present.
    for kind in lanes:
        lane_y[kind] = y
        colour = KIND_COLOURS.get(kind, MUTED)
        parts.append(_label(y + LANE_H / 2, kind_labels[kind]))
        parts.append(
            f'<line x1="{LEFT}" x2="{LEFT + PLOT_W}" y1="{y + LANE_H / 2:.1f}" '
            f'y2="{y + LANE_H / 2:.1f}" stroke="#e0e0e0"/>'
        )
        for x0, x1, count in _merge(scale.spans(by_kind[kind])):
            noun = "incident" if count == 1 else "incidents"
            parts.append(
                f'<rect x="{x0:.1f}" y="{y + (LANE_H - BAND_H) / 2:.1f}" width="{x1 - x0:.1f}" '
                f'height="{BAND_H}" fill="{colour}" opacity="0.85">'
                f"<title>{escape(kind_labels[kind])}: {count} {noun}</title></rect>"
            )
        y += LANE_H

    # Browser events as ticks, deduplicated per pixel column.
    browser_rows = [r for r in incidents if r.kind in BROWSER_KINDS]
    if browser_rows:
        lane_top = y
        parts.append(_label(y + LANE_H / 2, "Browser events"))
        columns: dict[int, int] = {}
        for x0, _ in scale.spans(browser_rows):
            column = int(x0)
            columns[column] = columns.get(column, 0) + 1
        for column, count in sorted(columns.items()):
            parts.append(
                f'<line x1="{column}" x2="{column}" y1="{y + 3:.1f}" y2="{y + LANE_H - 3:.1f}" '
                f'stroke="{BROWSER_COLOUR}" stroke-width="1.5"><title>{count} browser '
                f'event{"s" if count > 1 else ""}</title></line>'
            )
        for kind in {r.kind for r in browser_rows}:
            lane_y[kind] = lane_top
        y += LANE_H

    if not lanes and not browser_rows:
        parts.append(_label(y + LANE_H / 2, "Incidents"))
        parts.append(
            f'<text x="{LEFT + 4}" y="{y + LANE_H / 2:.1f}" dominant-baseline="middle" '
            f'font-size="12" fill="{MUTED}">None flagged</text>'
        )
        y += LANE_H

    # The incidents of the table page on show, as links on top of their lane.
    for row in incidents:
        if row.id not in linked_ids:
            continue
        top = lane_y.get(row.kind, 4.0)
        ((x0, x1),) = scale.spans([row])
        x1 = max(x1, x0 + 4)
        is_selected = row.id == selected_id
        stroke = f'stroke="{TEXT}" stroke-width="{3 if is_selected else 1}"'
        thumb = thumbnails.get(row.id, "")
        when = _fmt_offset(row.started_s - scale.start_s)
        label = f"{row.kind_label} at {when}, {row.status}"
        current = ' aria-current="true"' if is_selected else ""
        parts.append(
            f'<a href="{escape(incident_url(row.id))}" class="tl-incident" tabindex="-1" '
            f'data-incident="{row.id}" data-thumb="{escape(thumb)}" '
            f'aria-label="{escape(label)}"{current}>'
            f'<rect x="{x0 - 1:.1f}" y="{top + 2:.1f}" width="{x1 - x0 + 2:.1f}" '
            f'height="{LANE_H - 4}" fill="transparent" {stroke}/></a>'
        )

    y += GAP
    y = _draw_observations(parts, scale, observations, y, thresholds)
    y = _draw_axis(parts, scale, start, end, deadline, ended_at, y)

    height = y + 4
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height:.0f}" '
        f'class="timeline-svg" role="group" aria-labelledby="timeline-title" '
        f'aria-describedby="timeline-desc" font-family="system-ui, sans-serif">'
        f'<title id="timeline-title">Session timeline</title>'
        f'<desc id="timeline-desc">Incidents by kind, browser events, face count, head '
        f"pose and gaze over the exam's duration. The table of incidents below has the "
        f"same information as text.</desc>" + "".join(parts) + "</svg>"
    )


def _draw_observations(
    parts: list[str],
    scale: _Scale,
    observations: Iterable[ObservationRow],
    y: float,
    thresholds: Thresholds,
) -> float:
    buckets: dict[int, list[float]] = {}  # column -> [n, yaw, n_yaw, pitch, n_pitch, gaze...]
    faces: dict[int, int] = {}
    start, per_s = scale.start_s, PLOT_W / scale.span_s
    last_column = int(PLOT_W // BUCKET_PX)
    for obs in observations:
        offset = (obs.captured_s - start) * per_s
        column = 0 if offset < 0 else min(int(offset // BUCKET_PX), last_column)
        acc = buckets.setdefault(column, [0.0] * 6)
        if obs.yaw_deg is not None:
            acc[0] += obs.yaw_deg
            acc[1] += 1
        if obs.pitch_deg is not None:
            acc[2] += obs.pitch_deg
            acc[3] += 1
        if obs.gaze_x is not None and obs.gaze_y is not None:
            acc[4] += (obs.gaze_x**2 + obs.gaze_y**2) ** 0.5
            acc[5] += 1
        faces[column] = max(faces.get(column, 0), obs.face_count)
    if not buckets:
        parts.append(_label(y + LANE_H / 2, "Camera measurements"))
        parts.append(
            f'<text x="{LEFT + 4}" y="{y + LANE_H / 2:.1f}" dominant-baseline="middle" '
            f'font-size="12" fill="{MUTED}">None recorded</text>'
        )
        return y + LANE_H + GAP

    # Face-count strip: runs of 0, 1 and 2+ faces.
    parts.append(_label(y + STRIP_H / 2, "Faces in view"))
    run_start = run_kind = None
    prev_column = None
    columns = sorted(faces)
    runs: list[tuple[int, int, int]] = []
    for column in columns:
        kind = min(faces[column], 2)
        if run_kind is not None and (kind != run_kind or column != prev_column + 1):
            runs.append((run_start, prev_column, run_kind))
            run_start = None
        if run_start is None:
            run_start, run_kind = column, kind
        prev_column = column
    runs.append((run_start, prev_column, run_kind))
    names = {0: "no face", 1: "one face", 2: "two or more faces"}
    for first, last, kind in runs:
        x0 = LEFT + first * BUCKET_PX
        parts.append(
            f'<rect x="{x0}" y="{y:.1f}" width="{(last - first + 1) * BUCKET_PX}" '
            f'height="{STRIP_H}" fill="{FACE_COLOURS[kind]}"><title>{names[kind]}</title></rect>'
        )
    y += STRIP_H + GAP

    def series(index: int, count_index: int, to_y: Callable[[float], float]) -> str:
        d: list[str] = []
        last = None
        for column in sorted(buckets):
            acc = buckets[column]
            if not acc[count_index]:
                last = None
                continue
            value = acc[index] / acc[count_index]
            cmd = "L" if last is not None and column == last + 1 else "M"
            d.append(f"{cmd}{LEFT + column * BUCKET_PX + BUCKET_PX / 2:.0f} {to_y(value):.1f}")
            last = column
        return " ".join(d)

    # Head pose: yaw and pitch in degrees, clipped at ±60°, with the exam's thresholds.
    top = y
    mid = top + POSE_H / 2

    def pose_y(value: float) -> float:
        clipped = max(-POSE_RANGE_DEG, min(POSE_RANGE_DEG, value))
        return mid - clipped / POSE_RANGE_DEG * (POSE_H / 2)

    parts.append(_label(top + 10, "Head yaw (°)"))
    parts.append(
        f'<text x="{LEFT - 8}" y="{top + 26}" text-anchor="end" font-size="12" '
        f'fill="{TEXT}">and pitch (°)</text>'
    )
    parts.append(
        f'<rect x="{LEFT}" y="{top}" width="{PLOT_W}" height="{POSE_H}" fill="none" '
        f'stroke="#bdbdbd"/>'
        f'<line x1="{LEFT}" x2="{LEFT + PLOT_W}" y1="{mid}" y2="{mid}" stroke="#e0e0e0"/>'
    )
    for limit in (thresholds.yaw_deg, -thresholds.yaw_deg):
        ly = pose_y(limit)
        parts.append(
            f'<line x1="{LEFT}" x2="{LEFT + PLOT_W}" y1="{ly:.1f}" y2="{ly:.1f}" '
            f'stroke="#1565c0" stroke-dasharray="4 4"><title>yaw threshold '
            f"±{thresholds.yaw_deg:g}°</title></line>"
        )
    for text, value in (("+60", 60.0), ("0", 0.0), ("−60", -60.0)):
        parts.append(
            f'<text x="{LEFT + 4}" y="{pose_y(value) + (10 if value > 0 else -3):.1f}" '
            f'font-size="10" fill="{MUTED}">{text}</text>'
        )
    parts.append(
        f'<path d="{series(0, 1, pose_y)}" fill="none" stroke="#1565c0" stroke-width="1.5">'
        f"<title>head yaw</title></path>"
        f'<path d="{series(2, 3, pose_y)}" fill="none" stroke="#ad5700" stroke-width="1.5" '
        f'stroke-dasharray="5 2"><title>head pitch</title></path>'
    )
    y = top + POSE_H + GAP

    # Gaze: distance of the iris from the eye centre (0 centred, 1 at the edge).
    top = y

    def gaze_y(value: float) -> float:
        return top + GAZE_H - min(max(value, 0.0), 1.0) * GAZE_H

    parts.append(_label(top + GAZE_H / 2, "Gaze offset"))
    parts.append(
        f'<rect x="{LEFT}" y="{top}" width="{PLOT_W}" height="{GAZE_H}" fill="none" '
        f'stroke="#bdbdbd"/>'
    )
    ty = gaze_y(thresholds.gaze)
    parts.append(
        f'<line x1="{LEFT}" x2="{LEFT + PLOT_W}" y1="{ty:.1f}" y2="{ty:.1f}" stroke="#7b1fa2" '
        f'stroke-dasharray="4 4"><title>gaze threshold {thresholds.gaze:g}</title></line>'
        f'<path d="{series(4, 5, gaze_y)}" fill="none" stroke="#7b1fa2" stroke-width="1.5">'
        f"<title>gaze offset</title></path>"
    )
    return top + GAZE_H + GAP


def _draw_axis(
    parts: list[str],
    scale: _Scale,
    start: datetime,
    end: datetime,
    deadline: datetime | None,
    ended_at: datetime | None,
    y: float,
) -> float:
    total_min = scale.span_s / 60
    step = _nice_step_min(total_min)
    parts.append(
        f'<line x1="{LEFT}" x2="{LEFT + PLOT_W}" y1="{y}" y2="{y}" stroke="{TEXT}"/>'
    )
    parts.append(_label(y + 14, "Minutes from start"))
    minute = 0
    while minute <= total_min + 1e-6:
        x = scale.x(start + timedelta(minutes=minute))
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y}" y2="{y + 5}" stroke="{TEXT}"/>'
            f'<text x="{x:.1f}" y="{y + 17}" text-anchor="middle" font-size="11" '
            f'fill="{TEXT}">{minute}</text>'
        )
        minute += step
    top_of_plot = 4
    for moment, name, dash in ((deadline, "deadline", "2 3"), (ended_at, "ended", "6 3")):
        if moment is None or not (start <= moment <= end):
            continue
        x = scale.x(moment)
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top_of_plot}" y2="{y}" stroke="{TEXT}" '
            f'stroke-dasharray="{dash}"><title>session {name} at '
            f"{_fmt_offset((moment - start).total_seconds())}</title></line>"
        )
    return y + AXIS_H
