"""Audio: voice activity for ``speech`` incidents, and a masker that keeps no words.

Input is 16 kHz mono signed 16-bit PCM, in chunks (typically one second) as the browser
sends them. ``VoiceActivityDetector`` runs WebRTC's voice activity detector
(``webrtcvad-wheels``) over 30 ms frames and estimates, from the pitch of the voiced frames,
whether more than one voice is likely. ``mask_speech`` turns a chunk into noise that follows
the chunk's loudness envelope (so a reviewer hears *that* and *when* someone spoke) but
carries neither pitch nor spectral detail (so no word can be made out). Raw voice is never
returned or stored by this module; callers must drop the input chunk once analysed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from monitoring.vision.errors import VisionError

SAMPLE_RATE_HZ = 16_000
# webrtcvad accepts 10, 20 or 30 ms frames; 30 ms is its most reliable setting.
FRAME_S = 0.03
_FRAME_SAMPLES = int(SAMPLE_RATE_HZ * FRAME_S)
# Speaking pitch lies between about 70 Hz (low male voices) and 400 Hz (children).
_PITCH_MIN_HZ = 70.0
_PITCH_MAX_HZ = 400.0
# Frame-level autocorrelation peak above which a frame counts as voiced for pitch.
_VOICED_PEAK = 0.5
# Two voices are likely when the voiced frames' pitches form two groups this many
# semitones apart: one speaker's intonation spans about +-3 semitones in conversation,
# while typical male and female voices are about an octave (12 semitones) apart.
_SECOND_VOICE_SEMITONES = 6.0
_SECOND_VOICE_MIN_SHARE = 0.2
_MIN_VOICED_FRAMES = 6
# The masker's envelope resolution: 50 ms keeps syllable-rate loudness changes (about 4
# per second) visible but is far too coarse to carry phonemes.
_MASK_ENVELOPE_S = 0.05

PcmInput = bytes | npt.NDArray[np.int16]


class AudioError(VisionError):
    """Audio that cannot be analysed: wrong sample rate, sample format or length."""


class UnsupportedSampleRate(AudioError):
    """The audio is not 16 kHz."""


@dataclass(frozen=True, slots=True)
class VoiceActivity:
    """Voice activity in one audio chunk.

    ``t_s``: start of the chunk in seconds since the session started. ``speech_ratio``:
    share of its 30 ms frames with voice (the VAD fires and the frame has a pitch).
    ``is_speech``: the ratio reached the detector's threshold.
    ``is_multiple_voices_likely``: the voiced frames' pitches form two groups.
    """

    chunk_id: int
    t_s: float
    duration_s: float
    speech_ratio: float
    is_speech: bool
    is_multiple_voices_likely: bool


@dataclass(frozen=True, slots=True)
class MaskedAudio:
    """A chunk with its words removed: ``pcm`` is 16 kHz int16 noise following
    ``envelope_dbfs`` (one loudness value per 50 ms)."""

    pcm: bytes
    envelope_dbfs: tuple[float, ...]
    is_multiple_voices_likely: bool


def _samples(pcm: PcmInput, sample_rate_hz: int) -> npt.NDArray[np.int16]:
    if sample_rate_hz != SAMPLE_RATE_HZ:
        raise UnsupportedSampleRate(
            f"Audio must be {SAMPLE_RATE_HZ} Hz mono 16-bit PCM, got {sample_rate_hz} Hz; "
            "resample it in the browser (an AudioContext at 16000 Hz) before sending."
        )
    if isinstance(pcm, bytes | bytearray | memoryview):
        data = bytes(pcm)
        if len(data) % 2:
            raise AudioError(
                f"16-bit PCM needs an even number of bytes, got {len(data)}; the chunk was "
                "cut inside a sample."
            )
        return np.frombuffer(data, dtype="<i2").astype(np.int16)
    if isinstance(pcm, np.ndarray) and pcm.dtype == np.int16 and pcm.ndim == 1:
        return pcm
    raise AudioError(
        f"Expected bytes or a 1-D int16 array of PCM samples, got {type(pcm).__name__}"
        + (f" of dtype {pcm.dtype} and shape {pcm.shape}" if isinstance(pcm, np.ndarray) else "")
        + "."
    )


def _frame_pitches_hz(frames: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Pitch of each frame by normalised autocorrelation; NaN where not clearly voiced."""
    min_lag = int(SAMPLE_RATE_HZ / _PITCH_MAX_HZ)
    max_lag = int(SAMPLE_RATE_HZ / _PITCH_MIN_HZ)
    centred = frames - frames.mean(axis=1, keepdims=True)
    spectrum = np.fft.rfft(centred, n=2 * frames.shape[1], axis=1)
    autocorr = np.fft.irfft(np.abs(spectrum) ** 2, axis=1)[:, : max_lag + 1]
    energy = autocorr[:, :1]
    with np.errstate(invalid="ignore", divide="ignore"):
        normalised = autocorr / np.where(energy > 0, energy, np.inf)
    window = normalised[:, min_lag : max_lag + 1]
    best = window.argmax(axis=1)
    peaks = window[np.arange(len(window)), best]
    lags = best + min_lag
    # Prefer the shortest lag whose peak is nearly as strong (octave errors otherwise put a
    # voice an octave low, which would read as a second voice).
    for i, lag in enumerate(lags):
        half = lag // 2
        if half >= min_lag and normalised[i, half] > 0.9 * peaks[i]:
            lags[i] = half
    pitches = SAMPLE_RATE_HZ / lags.astype(np.float64)
    return np.where(peaks >= _VOICED_PEAK, pitches, np.nan)


def is_multiple_voices_likely(pitches_hz: npt.NDArray[np.float64]) -> bool:
    """Whether voiced-frame pitches split into two groups far enough apart."""
    voiced = np.sort(pitches_hz[np.isfinite(pitches_hz)])
    if len(voiced) < _MIN_VOICED_FRAMES:
        return False
    semitones = 12.0 * np.log2(voiced / 100.0)
    gaps = np.diff(semitones)
    split = int(gaps.argmax())
    low_share = (split + 1) / len(voiced)
    return bool(
        gaps[split] >= _SECOND_VOICE_SEMITONES
        and _SECOND_VOICE_MIN_SHARE <= low_share <= 1 - _SECOND_VOICE_MIN_SHARE
    )


class VoiceActivityDetector:
    """WebRTC voice activity over 30 ms frames; create one per session (it is cheap).

    ``aggressiveness`` 0-3 is webrtcvad's mode (3 filters out the most non-speech);
    ``min_speech_ratio`` is the share of voiced frames for a chunk to count as speech:
    vowels (the voiced, pitched part of speech) fill about half of a talking chunk.
    """

    def __init__(self, *, aggressiveness: int = 2, min_speech_ratio: float = 0.3) -> None:
        import webrtcvad

        if aggressiveness not in (0, 1, 2, 3):
            raise AudioError(f"aggressiveness must be 0, 1, 2 or 3, got {aggressiveness!r}.")
        self._vad = webrtcvad.Vad(aggressiveness)
        self.min_speech_ratio = min_speech_ratio

    def analyse(
        self,
        pcm: PcmInput,
        *,
        t_s: float,
        chunk_id: int,
        sample_rate_hz: int = SAMPLE_RATE_HZ,
    ) -> VoiceActivity:
        """Voice activity of one chunk. A trailing part shorter than 30 ms is ignored.

        Raises ``UnsupportedSampleRate`` for anything but 16 kHz and ``AudioError`` for
        malformed PCM.
        """
        samples = _samples(pcm, sample_rate_hz)
        count = len(samples) // _FRAME_SAMPLES
        duration_s = len(samples) / SAMPLE_RATE_HZ
        if count == 0:
            return VoiceActivity(chunk_id, t_s, duration_s, 0.0, False, False)
        frames = samples[: count * _FRAME_SAMPLES].reshape(count, _FRAME_SAMPLES)
        vad_says = np.array(
            [
                self._vad.is_speech(frame.astype("<i2").tobytes(), SAMPLE_RATE_HZ)
                for frame in frames
            ]
        )
        # WebRTC's detector alone fires on steady broadband noise (a fan, a hiss: measured
        # 100% of frames on white noise); speech also has a pitch, noise has none.
        pitches = _frame_pitches_hz(frames.astype(np.float64))
        voiced = vad_says & np.isfinite(pitches)
        ratio = float(voiced.mean())
        is_speech = ratio >= self.min_speech_ratio
        multiple = is_speech and is_multiple_voices_likely(pitches[voiced])
        return VoiceActivity(chunk_id, t_s, duration_s, round(ratio, 3), is_speech, multiple)


def mask_speech(
    pcm: PcmInput, *, sample_rate_hz: int = SAMPLE_RATE_HZ, seed: int = 0
) -> MaskedAudio:
    """Replace a chunk by envelope-following noise; the words cannot be recovered.

    Each 50 ms block becomes white noise at that block's RMS level, with short
    cross-fades: only loudness over time survives; pitch, formants and every spectral cue
    that carries phonemes are gone. Raises like ``VoiceActivityDetector.analyse``.
    """
    samples = _samples(pcm, sample_rate_hz).astype(np.float64)
    block = int(SAMPLE_RATE_HZ * _MASK_ENVELOPE_S)
    count = int(np.ceil(len(samples) / block)) if len(samples) else 0
    padded = np.zeros(count * block)
    padded[: len(samples)] = samples
    rms = np.sqrt((padded.reshape(count, block) ** 2).mean(axis=1)) if count else np.zeros(0)
    envelope_dbfs = tuple(
        round(float(20 * np.log10(max(value, 1.0) / 32768.0)), 1) for value in rms
    )
    # Interpolate the block levels sample by sample so the noise has no 50 ms steps.
    centres = (np.arange(count) + 0.5) * block
    gain = np.interp(np.arange(len(samples)), centres, rms) if count else np.zeros(0)
    noise = np.random.default_rng(seed).standard_normal(len(samples))
    masked = np.clip(noise * gain, -32768, 32767).astype("<i2")
    multiple = False
    frame_count = len(samples) // _FRAME_SAMPLES
    if frame_count:
        frames = samples[: frame_count * _FRAME_SAMPLES].reshape(frame_count, _FRAME_SAMPLES)
        multiple = is_multiple_voices_likely(_frame_pitches_hz(frames))
    return MaskedAudio(
        pcm=masked.tobytes(), envelope_dbfs=envelope_dbfs, is_multiple_voices_likely=multiple
    )
