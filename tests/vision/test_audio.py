"""Voice activity, speech incidents and the audio masker, on synthesised voices.

No package ships recorded speech; ``tests.build_clips.synth_voice`` makes vowels with a
source-filter model (pulse train through formant resonators).
"""

from __future__ import annotations

import numpy as np
import pytest

from monitoring.vision.audio import (
    SAMPLE_RATE_HZ,
    AudioError,
    UnsupportedSampleRate,
    VoiceActivityDetector,
    mask_speech,
)
from monitoring.vision.rules import RuleEngine, RulePolicy
from tests.build_clips import synth_conversation, synth_voice


def voice(pitch_hz: float, seconds: float, *, seed: int = 0, level: float = 0.3) -> np.ndarray:
    return synth_voice(pitch_hz, seconds, seed=seed, level=level)


def conversation(seconds: float) -> np.ndarray:
    return synth_conversation(seconds)


@pytest.fixture
def vad() -> VoiceActivityDetector:
    return VoiceActivityDetector()


def test_one_voice_is_speech_from_one_speaker(vad):
    activity = vad.analyse(voice(120, 1.0), t_s=3.0, chunk_id=7)
    assert activity.is_speech and activity.speech_ratio > 0.8
    assert not activity.is_multiple_voices_likely
    assert (activity.t_s, activity.chunk_id, activity.duration_s) == (3.0, 7, 1.0)


def test_two_voices_taking_turns_are_likely_multiple(vad):
    activity = vad.analyse(conversation(2.0), t_s=0.0, chunk_id=1)
    assert activity.is_speech and activity.is_multiple_voices_likely


@pytest.mark.parametrize(
    "pcm",
    [
        np.zeros(SAMPLE_RATE_HZ, np.int16),  # silence
        (np.random.default_rng(1).standard_normal(SAMPLE_RATE_HZ) * 300).astype(np.int16),
    ],
    ids=["silence", "fan_noise"],
)
def test_silence_and_steady_noise_are_not_speech(vad, pcm):
    activity = vad.analyse(pcm, t_s=0.0, chunk_id=1)
    assert not activity.is_speech and activity.speech_ratio < 0.1


def test_clipping_voice_is_still_speech(vad):
    loud = np.clip(voice(120, 1.0).astype(np.int32) * 40, -32768, 32767).astype(np.int16)
    assert ((loud == 32767) | (loud == -32768)).mean() > 0.05  # really clipping
    assert vad.analyse(loud.tobytes(), t_s=0.0, chunk_id=1).is_speech


def test_wrong_sample_rate_is_a_typed_error(vad):
    with pytest.raises(UnsupportedSampleRate, match="must be 16000 Hz mono 16-bit PCM, got 44100"):
        vad.analyse(voice(120, 1.0), t_s=0.0, chunk_id=1, sample_rate_hz=44_100)


def test_odd_byte_count_and_float_samples_are_typed_errors(vad):
    with pytest.raises(AudioError, match="even number of bytes, got 3"):
        vad.analyse(b"\x00\x01\x02", t_s=0.0, chunk_id=1)
    with pytest.raises(AudioError, match="dtype float64"):
        vad.analyse(np.zeros(1600), t_s=0.0, chunk_id=1)  # type: ignore[arg-type]


def test_chunk_shorter_than_a_frame_is_silence(vad):
    activity = vad.analyse(voice(120, 0.01), t_s=0.0, chunk_id=1)
    assert not activity.is_speech and activity.duration_s == 0.01


def test_sustained_speech_opens_a_speech_incident_medium_when_two_voices(vad):
    engine = RuleEngine(RulePolicy(speech_min_s=3.0))
    events = []
    for second in range(6):
        chunk = conversation(1.0) if second >= 1 else np.zeros(SAMPLE_RATE_HZ, np.int16)
        events += engine.observe_audio(vad.analyse(chunk, t_s=float(second), chunk_id=second))
    assert [(e.action, e.kind, e.severity) for e in events] == [
        ("open", "speech", "low"),
        ("extend", "speech", "medium"),
    ]
    assert events[0].started_at == 1.0 and events[0].evidence_frame_ids == (1, 4)


def envelope(samples: np.ndarray) -> np.ndarray:
    block = SAMPLE_RATE_HZ // 20
    usable = samples[: len(samples) // block * block].astype(np.float64)
    return np.sqrt((usable.reshape(-1, block) ** 2).mean(axis=1))


def test_masked_speech_keeps_the_envelope_but_no_pitch_or_spectrum(vad):
    speech = np.concatenate([voice(120, 1.0), np.zeros(8000, np.int16), voice(120, 1.0, seed=2)])
    masked = mask_speech(speech.tobytes())
    noise = np.frombuffer(masked.pcm, dtype="<i2")
    assert len(noise) == len(speech) and not np.array_equal(noise, speech)
    # When someone spoke, and how loudly, survives ...
    assert np.corrcoef(envelope(speech), envelope(noise))[0, 1] > 0.9
    assert len(masked.envelope_dbfs) == 50 and min(masked.envelope_dbfs) < -80
    # ... but the voice does not: no pitch left for the detector, and the spectrum no
    # longer resembles the speech's (formants flattened).
    assert not vad.analyse(noise, t_s=0.0, chunk_id=1).is_speech
    spec_speech = np.abs(np.fft.rfft(speech[:8000].astype(float)))
    spec_masked = np.abs(np.fft.rfft(noise[:8000].astype(float)))
    assert np.corrcoef(spec_speech, spec_masked)[0, 1] < 0.2


def test_masker_reports_a_likely_second_voice():
    assert mask_speech(conversation(2.0)).is_multiple_voices_likely
    assert not mask_speech(voice(120, 2.0)).is_multiple_voices_likely


def test_masker_handles_empty_and_clipping_input():
    assert mask_speech(b"").pcm == b""
    loud = np.full(SAMPLE_RATE_HZ, 32767, np.int16)
    masked = np.frombuffer(mask_speech(loud).pcm, dtype="<i2")
    assert len(masked) == SAMPLE_RATE_HZ and masked.std() > 10_000
