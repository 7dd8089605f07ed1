"""A deterministic synthetic music collection whose "genre" is known ground truth.

``generate_demo`` renders pieces in eight synthetic styles (ambient pad, techno, chiptune, string
ballad, drum and bass, piano waltz, rock, lo-fi hip hop). Each style has its own tempo range and
metre, instruments (detuned-saw pads, FM bells and electric piano, filtered saws, pulse waves,
Karplus-Strong plucked strings through an amp, additive piano, noise drums), drum patterns,
harmony (major, minor, modal, jazz sevenths), keys, effects and dynamics, so the handcrafted
descriptors (timbre, tonal, rhythm, loudness) can tell them apart. Inside a style every piece differs:
key, tempo (±6 %), progression order, melody, drum fills, 20-40 s duration, mix and level.

Why synthetic: the demo and the tests need a labelled collection that anyone can rebuild in
seconds, offline, with no licence question. The same ``seed`` gives the same audio, bit for bit for
the lossless formats (each piece has its own ``np.random.default_rng([seed, style, piece])``;
no global RNG, no clock). Files rotate through wav, flac, ogg (Vorbis), mp3, opus, aiff and m4a
(AAC, written with PyAV) and carry title/artist/album/genre tags, so scanning, decoding and tag
reading are exercised too. WAV and AIFF carry their tags as an ID3 chunk: mutagen reads them with
``mutagen.File(path)`` (frames TIT2/TPE1/TALB/TCON), not in ``easy=True`` mode.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import signal as sps

from synesthete.exceptions import ParameterError

SR = 22050
"""Synthesis sample rate; files are written at this rate except where a format column says otherwise."""

FORMATS: tuple[str, ...] = ("wav", "flac", "ogg", "mp3", "opus", "aiff", "m4a")
"""File extensions, rotated through piece by piece so every style gets every format."""

# extension -> (sample rate, channels). Opus only encodes at 48 kHz (and friends); M4A is written at
# 44.1 kHz so the decoder's resampling path is exercised; the rest stay small at 22.05 kHz.
_FORMAT_LAYOUT: dict[str, tuple[int, int]] = {
    "wav": (22050, 1),
    "flac": (22050, 2),
    "ogg": (22050, 1),
    "mp3": (22050, 1),
    "opus": (48000, 2),
    "aiff": (22050, 1),
    "m4a": (44100, 1),
}
_SNDFILE_FORMATS = ("wav", "flac", "ogg", "aiff")

Stem = tuple[np.ndarray, float]  # (mono signal, pan in [-1, 1])

_MODES: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "lydian": (0, 2, 4, 6, 7, 9, 11),
    "phrygian": (0, 1, 3, 5, 7, 8, 10),
}


# --------------------------------------------------------------------------------------------------
# Piece context and small helpers


@dataclass
class _Piece:
    """Everything one render needs: its RNG, length, tempo, key and chord progression."""

    rng: np.random.Generator
    n: int
    bpm: float
    root: int  # MIDI note of the tonic in octave 3 (48..59)
    mode: str
    prog: list[int]  # scale degrees (0 = tonic), one per chord slot
    cache: dict[tuple, np.ndarray] = field(default_factory=dict)

    @property
    def beat(self) -> float:
        return 60.0 / self.bpm

    def note(self, key: tuple, make: Callable[[], np.ndarray]) -> np.ndarray:
        """Render a note once per piece: chords and riffs repeat the same pitches and lengths."""
        if key not in self.cache:
            self.cache[key] = make()
        return self.cache[key]

    def degree(self, deg: int, octave: int = 0) -> int:
        """MIDI note of scale degree ``deg`` (may exceed 6 or be negative) above the tonic."""
        scale = _MODES[self.mode]
        return self.root + 12 * (octave + deg // 7) + scale[deg % 7]

    def chord(self, deg: int, size: int = 3, octave: int = 0) -> list[int]:
        """Diatonic chord stacked in thirds on ``deg``: triad, seventh (4), ninth (5)."""
        return [self.degree(deg + 2 * i, octave) for i in range(size)]

    def gain(self, db: float = 2.0) -> float:
        """A random mix gain of ±``db`` decibels, so no two mixes are the same."""
        return float(10 ** (self.rng.uniform(-db, db) / 20))


def _hz(midi: float) -> float:
    return 440.0 * 2 ** ((midi - 69) / 12)


def _time(n: int) -> np.ndarray:
    return np.arange(n) / SR


def _place(buf: np.ndarray, sig: np.ndarray, start_s: float, gain: float = 1.0) -> None:
    """Mix ``sig`` into ``buf`` at ``start_s`` seconds, cutting what runs past the end."""
    i = max(0, round(start_s * SR))
    if i >= len(buf):
        return
    m = min(len(sig), len(buf) - i)
    buf[i : i + m] += gain * sig[:m]


def _adsr(n: int, a: float, d: float, s: float, r: float) -> np.ndarray:
    """Linear attack-decay-sustain-release envelope over ``n`` samples (times in seconds)."""
    dur = n / SR
    a, d, r = (min(x, dur / 3) for x in (a, d, r))
    return np.interp(_time(n), [0, a, a + d, dur - r, dur], [0, 1, s, s, 0])


def _exp_env(n: int, tau: float, attack: float = 0.003) -> np.ndarray:
    t = _time(n)
    return np.exp(-t / tau) * np.minimum(1.0, t / attack)


def _blep(p: np.ndarray, dt: float) -> np.ndarray:
    """PolyBLEP residual: removes most aliasing from naive saw/pulse edges, vectorised."""
    out = np.zeros_like(p)
    lo = p < dt
    x = p[lo] / dt
    out[lo] = x + x - x * x - 1
    hi = p > 1 - dt
    x = (p[hi] - 1) / dt
    out[hi] = x * x + x + x + 1
    return out


def _saw(cycles: np.ndarray, dt: float) -> np.ndarray:
    p = cycles % 1.0
    return 2 * p - 1 - _blep(p, dt)


def _pulse(cycles: np.ndarray, dt: float, duty: float) -> np.ndarray:
    return _saw(cycles, dt) - _saw(cycles + duty, dt)


def _cycles(freq: float, n: int, vib_rate: float = 0.0, vib_depth: float = 0.0, phase: float = 0.0):
    """Oscillator phase in cycles, with optional vibrato (depth as a fraction of ``freq``)."""
    if vib_depth == 0:
        return freq * _time(n) + phase
    f = freq * (1 + vib_depth * np.sin(2 * np.pi * vib_rate * _time(n)))
    return np.cumsum(f) / SR + phase


def _sos(kind: str, cutoff: float | Sequence[float], order: int = 2) -> np.ndarray:
    return sps.butter(order, cutoff, btype=kind, fs=SR, output="sos")


def _filt(x: np.ndarray, kind: str, cutoff: float | Sequence[float], order: int = 2) -> np.ndarray:
    return sps.sosfilt(_sos(kind, cutoff, order), x)


def _reverb(x: np.ndarray, rng: np.random.Generator, seconds: float, mix: float) -> np.ndarray:
    """Convolution with a decaying-noise impulse response: cheap, dense, good enough for a demo."""
    n = int(seconds * SR)
    ir = rng.standard_normal(n) * np.exp(-6.9 * _time(n) / seconds)
    ir = _filt(ir, "lowpass", 4500)
    ir /= np.sqrt(np.sum(ir**2))
    wet = sps.oaconvolve(x.astype(np.float32), ir.astype(np.float32))[: len(x)]  # float32 FFTs: 2x faster
    return (1 - mix) * x + mix * wet


def _reverb_stems(stems: list[Stem], rng: np.random.Generator, seconds: float, mix: float) -> list[Stem]:
    """One shared reverb (a send bus) for all stems: one convolution per piece instead of one per stem."""
    wet = _reverb(np.sum([x for x, _ in stems], axis=0), rng, seconds, 1.0)
    return [(x * (1 - mix), pan) for x, pan in stems] + [(wet * mix, 0.0)]


def _pluck(freq: float, n: int, rng: np.random.Generator, *, t60: float, bright: float = 0.7) -> np.ndarray:
    """Karplus-Strong string, processed one period per numpy step (the loop delay is a period).

    The loop filter is a two-tap average (lowpass) convolved with a linear fractional delay, so
    the pitch is exact; the per-period gain sets the decay time ``t60``.
    """
    period = SR / freq
    d = int(period - 0.5)
    frac = period - 0.5 - d
    g = 10 ** (-3 / (t60 * freq))
    w0, w1, w2 = g * 0.5 * (1 - frac), g * 0.5, g * 0.5 * frac
    y = np.zeros(n + 2)  # two leading zeros stand for y[-2], y[-1]
    burst = rng.uniform(-1, 1, d)
    burst = sps.lfilter([bright], [1, bright - 1], burst)  # one-pole lowpass: darker pluck
    y[2 : 2 + d] = burst - burst.mean()
    for start in range(2 + d, n + 2, d):
        end = min(start + d, n + 2)
        k = end - start
        y[start:end] = (
            w0 * y[start - d : start - d + k]
            + w1 * y[start - d - 1 : start - d - 1 + k]
            + w2 * y[start - d - 2 : start - d - 2 + k]
        )
    return y[2:]


def _fm(freq: float, n: int, ratio: float, index: np.ndarray | float, env: np.ndarray) -> np.ndarray:
    t = _time(n)
    mod = index * np.sin(2 * np.pi * freq * ratio * t)
    return env * np.sin(2 * np.pi * freq * t + mod)


def _melody(
    p: _Piece,
    *,
    lo: int,
    hi: int,
    beats: float,
    chord_beats: float,
    durations: Sequence[float],
    weights: Sequence[float],
    rest: float = 0.1,
    chord_size: int = 3,
) -> list[tuple[float, float, int]]:
    """A random-walk melody on the scale, landing on a chord tone at each chord change.

    Returns ``(start_beat, length_beats, midi)`` triples.
    """
    scale = set(_MODES[p.mode])
    notes = np.array([m for m in range(lo, hi + 1) if (m - p.root) % 12 in scale])
    w = np.asarray(weights, float) / np.sum(weights)
    i = int(p.rng.integers(len(notes) // 3, 2 * len(notes) // 3))
    out: list[tuple[float, float, int]] = []
    b = 0.0
    while b < beats:
        dur = float(p.rng.choice(durations, p=w))
        slot = int(b // chord_beats)
        if abs(b - slot * chord_beats) < 1e-6:  # chord change: jump to the nearest chord tone
            pcs = {m % 12 for m in p.chord(p.prog[slot % len(p.prog)], chord_size)}
            tones = [j for j, m in enumerate(notes) if m % 12 in pcs]
            i = min(tones, key=lambda j: abs(j - i))
        else:
            i += int(p.rng.choice([-2, -1, -1, 0, 1, 1, 2]))
            i = int(np.clip(i, 0, len(notes) - 1))
        if p.rng.random() >= rest:
            out.append((b, dur, int(notes[i])))
        b += dur
    return out


def _chord_at(p: _Piece, beat: float, chord_beats: float) -> int:
    return p.prog[int(beat // chord_beats) % len(p.prog)]


# --------------------------------------------------------------------------------------------------
# Drums: one-shots rendered once per piece (with slight random variation), then placed on a grid


def _kick(p: _Piece, f0: float = 50, f1: float = 160, decay: float = 0.3, click: float = 0.3) -> np.ndarray:
    n = int(decay * 4 * SR)
    t = _time(n)
    f = f0 + (f1 - f0) * np.exp(-t / 0.035)
    body = np.sin(2 * np.pi * np.cumsum(f) / SR) * np.exp(-t / decay)
    return body + click * p.rng.standard_normal(n) * np.exp(-t / 0.004)


def _snare(p: _Piece, tone: float = 190, decay: float = 0.13, band=(900, 7000)) -> np.ndarray:
    n = int(decay * 5 * SR)
    t = _time(n)
    noise = _filt(p.rng.standard_normal(n), "bandpass", band) * np.exp(-t / decay)
    body = np.sin(2 * np.pi * tone * t) * np.exp(-t / 0.05)
    return 0.8 * noise / np.abs(noise).max() + 0.5 * body


def _hat(p: _Piece, decay: float = 0.03, cutoff: float = 7000) -> np.ndarray:
    n = int(decay * 6 * SR)
    x = _filt(p.rng.standard_normal(n), "highpass", cutoff) * np.exp(-_time(n) / decay)
    return x / np.abs(x).max()


def _clap(p: _Piece) -> np.ndarray:
    n = int(0.35 * SR)
    t = _time(n)
    env = np.exp(-t / 0.09)
    for k in (0.0, 0.011, 0.022):
        env += 0.8 * np.exp(-np.maximum(t - k, 0) / 0.004) * (t >= k)
    x = _filt(p.rng.standard_normal(n), "bandpass", (800, 3500)) * env
    return x / np.abs(x).max()


def _drums(
    p: _Piece,
    hits: dict[str, tuple[np.ndarray, Sequence[float]]],
    *,
    steps: int,
    step_beats: float,
    swing: float = 0.0,
    jitter: float = 0.004,
    skip_bars: Callable[[int], bool] = lambda bar: False,
) -> np.ndarray:
    """Place one-shots by a step pattern of velocities (0 = silent), with swing and humanising.

    ``hits`` maps a name to (sample, velocities over one pattern of ``steps`` steps).
    """
    buf = np.zeros(p.n)
    step_s = step_beats * p.beat
    n_patterns = int(p.n / SR / (steps * step_s)) + 1
    for rep in range(n_patterns):
        if skip_bars(rep):
            continue
        for sample, vel in hits.values():
            for k, v in enumerate(vel):
                if v <= 0:
                    continue
                t = (rep * steps + k) * step_s + (swing * step_s if k % 2 else 0.0)
                t += p.rng.normal(0, jitter)
                _place(buf, sample, t, v * p.rng.uniform(0.85, 1.0))
    return buf


# --------------------------------------------------------------------------------------------------
# The styles. Each render returns (signal, pan) stems; the mix and master are shared.


def _ambient(p: _Piece) -> list[Stem]:
    """Slow swelling detuned-saw pads, a sine sub, sparse FM bells, wind; long reverb, no drums."""
    rng = p.rng
    chord_s = 8 * p.beat
    cutoff = rng.uniform(500, 900)
    shimmer = np.zeros(p.n)
    pad = np.zeros(p.n)
    sub = np.zeros(p.n)
    n_chord = int((chord_s + 2.5) * SR)
    env = _adsr(n_chord, 2.5, 0.5, 0.8, 2.5)
    for slot in range(int(p.n / SR / chord_s) + 1):
        deg = p.prog[slot % len(p.prog)]
        for m in p.chord(deg, 4, octave=0):

            def voice(m: int = m) -> np.ndarray:
                f = _hz(m)
                x = sum(_saw(_cycles(f * 2 ** (c / 1200), n_chord, phase=c / 7), f / SR) for c in (-6, 6))
                return x * env

            _place(pad, p.note(("pad", m), voice), slot * chord_s, 0.25)
            _place(
                shimmer,
                p.note(("shim", m), lambda m=m: np.sin(2 * np.pi * _hz(m + 24) * _time(n_chord)) * env**2),
                slot * chord_s,
                0.06,
            )
        bass = p.degree(deg, -1)
        _place(
            sub,
            p.note(("sub", bass), lambda b=bass: np.sin(2 * np.pi * _hz(b) * _time(n_chord)) * env),
            slot * chord_s,
            0.5,
        )
    pad = _filt(pad, "lowpass", cutoff)
    bells = np.zeros(p.n)
    t = rng.uniform(1, 3)
    while t < p.n / SR:
        m = p.degree(int(rng.integers(0, 8)), 2)
        n = int(3 * SR)
        bells_note = p.note(
            ("bell", m), lambda m=m, n=n: _fm(_hz(m), n, 3.5, 2 * _exp_env(n, 0.4), _exp_env(n, 0.9))
        )
        _place(bells, bells_note, t, rng.uniform(0.08, 0.2))
        t += rng.uniform(1.5, 4.5)
    wind = _filt(rng.standard_normal(p.n), "bandpass", (300, 1500)) * (
        0.5 + 0.5 * np.sin(2 * np.pi * _time(p.n) / rng.uniform(7, 13))
    )
    swell = 0.65 + 0.35 * np.sin(2 * np.pi * _time(p.n) / rng.uniform(12, 20) + rng.uniform(0, 6.3))
    stems = [(pad * swell, -0.3), (sub * swell, 0.0), (shimmer, 0.3), (bells, 0.4), (0.06 * wind, 0.1)]
    return _reverb_stems([(x * p.gain(), pan) for x, pan in stems], rng, 5.0, 0.65)


def _techno(p: _Piece) -> list[Stem]:
    """Four-on-the-floor kick, clap, 16th hats, a filtered-saw 16th bassline and minor stabs; dry."""
    rng = p.rng
    kick = _kick(p, f0=rng.uniform(45, 55), decay=0.25, click=0.4)
    drums = _drums(
        p,
        {
            "kick": (kick, [1, 0, 0, 0] * 4),
            "clap": (_clap(p), [0, 0, 0, 0, 0.7, 0, 0, 0] * 2),
            "hat": (_hat(p, 0.025), [0.3, 0.2, 0.6, 0.2] * 4),
            "open": (_hat(p, 0.12, 6000), [0, 0, 0.45, 0] * 4),
        },
        steps=16,
        step_beats=0.25,
    )
    # bass ostinato: one bar of 16ths, re-drawn every 4 bars
    step = p.beat / 4
    bass = np.zeros(p.n)
    n_note = int(step * 0.9 * SR)
    bar_s = 4 * p.beat
    offsets = [0, 0, 12, 7, 10, 0, 3, 12]
    for bar in range(int(p.n / SR / bar_s) + 1):
        if bar % 4 == 0:
            pattern = [(int(rng.choice(offsets)), rng.random() < 0.8) for _ in range(16)]
        root = p.degree(p.prog[(bar // 2) % len(p.prog)], -2)
        for k, (off, on) in enumerate(pattern):
            if not on or k % 4 == 0:
                continue
            m = root + off
            cut = float(rng.choice([400, 700, 1100, 1800]))

            def bass_note(m: int = m, cut: float = cut) -> np.ndarray:
                f = _hz(m)
                x = _saw(_cycles(f, n_note), f / SR) * _exp_env(n_note, 0.08)
                return _filt(x, "lowpass", cut)

            _place(bass, p.note(("bass", m, cut), bass_note), (bar * 16 + k) * step)
    stab = np.zeros(p.n)
    n_stab = int(0.25 * SR)
    rhythm = sorted(rng.choice(16, size=3, replace=False))
    for bar in range(int(p.n / SR / bar_s) + 1):
        if bar < 4:
            continue
        deg = p.prog[(bar // 2) % len(p.prog)]
        for k in rhythm:
            for m in p.chord(deg, 3, octave=1):
                note = p.note(
                    ("stab", m),
                    lambda m=m: _pulse(_cycles(_hz(m), n_stab), _hz(m) / SR, 0.3) * _exp_env(n_stab, 0.07),
                )
                _place(stab, note, (bar * 16 + k) * step, 0.3)
    stab = _filt(stab, "bandpass", (400, rng.uniform(2500, 4000)))
    return [(drums * p.gain(), 0.0), (0.8 * bass * p.gain(), 0.0), (stab * p.gain(), 0.3)]


def _chiptune(p: _Piece) -> list[Stem]:
    """Pulse-wave lead and arpeggios, a stepped triangle bass and noise-channel drums; no effects."""
    rng = p.rng
    chord_beats = 4.0
    beats = p.n / SR / p.beat
    duty = float(rng.choice([0.125, 0.25]))
    lead = np.zeros(p.n)
    for b, d, m in _melody(
        p,
        lo=p.root + 24,
        hi=p.root + 38,
        beats=beats,
        chord_beats=chord_beats,
        durations=[0.5, 0.25, 1.0],
        weights=[5, 3, 2],
        rest=0.12,
    ):
        n = int(d * p.beat * SR * 0.92)
        note = p.note(
            ("lead", m, n),
            lambda m=m, n=n: _pulse(_cycles(_hz(m), n), _hz(m) / SR, duty) * _adsr(n, 0.002, 0.05, 0.7, 0.01),
        )
        _place(lead, note, b * p.beat)
    arp = np.zeros(p.n)
    sub = 0.25 if rng.random() < 0.5 else 1 / 6
    n_arp = int(sub * p.beat * SR)
    bass = np.zeros(p.n)
    n_bass = int(0.5 * p.beat * SR * 0.85)
    for k in range(int(beats / sub) + 1):
        b = k * sub
        chord = p.chord(_chord_at(p, b, chord_beats), 3, octave=1)
        m = chord[k % 3]
        _place(
            arp, p.note(("arp", m), lambda m=m: _pulse(_cycles(_hz(m), n_arp), _hz(m) / SR, 0.5)), b * p.beat
        )
    for k in range(int(beats * 2) + 1):
        b = k * 0.5
        m = p.degree(_chord_at(p, b, chord_beats), -1) + (12 if k % 2 else 0)

        def tri(m: int = m) -> np.ndarray:
            ph = _cycles(_hz(m), n_bass) % 1.0
            return np.round((4 * np.abs(ph - 0.5) - 1) * 7.5) / 7.5

        _place(bass, p.note(("tri", m), tri), b * p.beat)

    def noise(n: int, hold: int, tau: float) -> np.ndarray:
        x = np.repeat(rng.choice([-1.0, 1.0], n // hold + 1), hold)[:n]
        return x * _exp_env(n, tau)

    kick_n = int(0.12 * SR)
    kt = _time(kick_n)
    kick = (4 * np.abs((np.cumsum(60 + 200 * np.exp(-kt / 0.02)) / SR) % 1 - 0.5) - 1) * np.exp(-kt / 0.05)
    drums = _drums(
        p,
        {
            "kick": (kick, [1, 0, 0, 0, 0, 0, 0.8, 0, 0, 0, 1, 0, 0, 0, 0, 0]),
            "snare": (noise(int(0.15 * SR), 3, 0.05), [0, 0, 0, 0, 0.7, 0, 0, 0] * 2),
            "hat": (noise(int(0.04 * SR), 1, 0.012), [0.3, 0, 0.3, 0] * 4),
        },
        steps=16,
        step_beats=0.25,
        jitter=0.0,
    )
    return [
        (0.22 * lead * p.gain(), -0.2),
        (0.1 * arp * p.gain(), 0.3),
        (0.35 * bass * p.gain(), 0.0),
        (0.5 * drums * p.gain(), 0.0),
    ]


def _ballad(p: _Piece) -> list[Stem]:
    """A bowed string section with vibrato, a violin melody and cello bass; a slow crescendo."""
    rng = p.rng
    chord_beats = 4.0
    beats = p.n / SR / p.beat
    n_chord = int((chord_beats * p.beat + 0.6) * SR)
    strings = np.zeros(p.n)
    cello = np.zeros(p.n)

    def bowed(m: int, n: int, attack: float) -> np.ndarray:
        f = _hz(m)
        cyc = _cycles(f, n, 5.3 + rng.uniform(-0.3, 0.3), 0.006)
        return _saw(cyc, f / SR) * _adsr(n, attack, 0.2, 0.85, 0.5)

    for slot in range(int(beats / chord_beats) + 1):
        deg = p.prog[slot % len(p.prog)]
        for m in p.chord(deg, 3, octave=1):
            _place(
                strings,
                p.note(("str", m), lambda m=m: bowed(m, n_chord, 0.5)),
                slot * chord_beats * p.beat,
                0.25,
            )
        m = p.degree(deg, -1)
        _place(
            cello, p.note(("cello", m), lambda m=m: bowed(m, n_chord, 0.3)), slot * chord_beats * p.beat, 0.4
        )
    violin = np.zeros(p.n)
    for b, d, m in _melody(
        p,
        lo=p.root + 24,
        hi=p.root + 40,
        beats=beats,
        chord_beats=chord_beats,
        durations=[1.0, 2.0, 0.5, 3.0],
        weights=[4, 3, 2, 1],
        rest=0.08,
    ):
        n = int((d * p.beat + 0.3) * SR)
        _place(violin, p.note(("vln", m, n), lambda m=m, n=n: bowed(m, n, 0.12)), b * p.beat, 0.3)
    harp = np.zeros(p.n)  # plucked eighth-note arpeggios: the accompaniment moves, unlike a pad
    n_h = int(1.5 * SR)
    for k in range(int(beats * 2) + 1):
        chord = p.chord(_chord_at(p, k / 2, chord_beats), 3, octave=0)
        m = [*chord, chord[0] + 12][(0, 1, 2, 3, 2, 1)[k % 6]]
        note = p.note(("harp", m), lambda m=m: _pluck(_hz(m), n_h, rng, t60=1.2, bright=0.6))
        _place(harp, note, k / 2 * p.beat, 0.35 if k % 8 else 0.5)
    strings = _filt(strings, "lowpass", rng.uniform(3500, 4500))
    cello = _filt(cello, "lowpass", 1500)
    violin = _filt(violin, "bandpass", (300, 5000))
    t = _time(p.n) / (p.n / SR)
    peak = rng.uniform(0.6, 0.85)
    arc = np.interp(t, [0, peak, 1], [0.3, 1.0, 0.55])
    stems = [(strings, -0.4), (cello, 0.3), (violin, 0.15), (harp, -0.1)]
    return _reverb_stems([(x * arc * p.gain(), pan) for x, pan in stems], rng, 2.0, 0.35)


def _dnb(p: _Piece) -> list[Stem]:
    """A fast two-bar breakbeat, a detuned-saw reese bass over a sine sub, and a reverbed pad."""
    rng = p.rng
    ghost = [0.0] * 32
    for k in rng.choice([3, 7, 14, 19, 23, 27, 30], size=3, replace=False):
        ghost[int(k)] = 0.3
    kick_pat = [0.0] * 32
    for k in (0, 10, 16, 26) if rng.random() < 0.5 else (0, 10, 18, 26):
        kick_pat[k] = 1.0
    snare_pat = [0.0] * 32
    for k in (4, 12, 20, 28):
        snare_pat[k] = 1.0
    snare_pat = [max(a, b) for a, b in zip(snare_pat, ghost, strict=True)]
    drums = _drums(
        p,
        {
            "kick": (_kick(p, f0=rng.uniform(48, 58), decay=0.18, click=0.5), kick_pat),
            "snare": (_snare(p, tone=rng.uniform(180, 230), decay=0.11, band=(1500, 8000)), snare_pat),
            "hat": (_hat(p, 0.02, 8000), [0.45, 0.25] * 16),
            "ride": (_hat(p, 0.25, 5000), [0, 0, 0.25, 0] * 8),
        },
        steps=32,
        step_beats=0.25,
        jitter=0.002,
    )
    bar_s = 4 * p.beat
    n_bar = int(bar_s * 2 * SR)
    reese = np.zeros(p.n)
    sub = np.zeros(p.n)
    for slot in range(int(p.n / SR / (2 * bar_s)) + 1):
        m = p.degree(p.prog[slot % len(p.prog)], -2)

        def reese_note(m: int = m) -> np.ndarray:
            f = _hz(m)
            x = _saw(_cycles(f * 0.994, n_bar), f / SR) + _saw(_cycles(f * 1.006, n_bar, phase=0.3), f / SR)
            return x * _adsr(n_bar, 0.02, 0.1, 0.9, 0.1)

        _place(reese, p.note(("reese", m), reese_note), slot * 2 * bar_s, 0.35)
        _place(
            sub,
            p.note(
                ("sub", m),
                lambda m=m: np.sin(2 * np.pi * _hz(m) * _time(n_bar)) * _adsr(n_bar, 0.02, 0.1, 0.9, 0.1),
            ),
            slot * 2 * bar_s,
            0.6,
        )
    reese = _filt(reese, "lowpass", rng.uniform(300, 500))
    pad = np.zeros(p.n)
    for slot in range(int(p.n / SR / (2 * bar_s)) + 1):
        for m in p.chord(p.prog[slot % len(p.prog)], 4, octave=1):
            note = p.note(
                ("pad", m), lambda m=m: _fm(_hz(m), n_bar, 1.0, 0.8, _adsr(n_bar, 0.8, 0.5, 0.7, 1.0))
            )
            _place(pad, note, slot * 2 * bar_s, 0.12)
    pad = _reverb(pad, rng, 3.0, 0.6)
    return [(drums * p.gain(), 0.0), (reese * p.gain(), 0.0), (sub * p.gain(), 0.0), (pad * p.gain(), -0.3)]


def _piano_note(m: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """Additive piano: slightly stretched partials, higher ones decaying faster, a hammer thump."""
    f = _hz(m)
    t = _time(n)
    inharm = 0.0004
    k = np.arange(1, 11)
    fk = f * k * np.sqrt(1 + inharm * k**2)
    keep = fk < SR / 2 - 500
    k, fk = k[keep], fk[keep]
    amp = 1 / k**1.3
    tau = 1.2 * (261.6 / f) ** 0.4 / (1 + 0.35 * (k - 1))
    x = np.zeros(n)
    for a, fq, tk in zip(amp, fk, tau, strict=True):
        m = min(n, int(6.9 * tk * SR))  # stop each partial at -60 dB
        x[:m] += a * np.sin(2 * np.pi * fq * t[:m]) * np.exp(-t[:m] / tk)
    hammer = _filt(rng.standard_normal(min(n, 400)), "lowpass", 2500) * np.exp(-_time(min(n, 400)) / 0.004)
    x[: len(hammer)] += 0.15 * hammer
    return x * np.minimum(1.0, t / 0.002)


def _piano(p: _Piece, m: int, n: int) -> np.ndarray:
    """A piano note of ``n`` samples: one long render per pitch, cut with a 50 ms damper release."""
    full = p.note(("piano", m), lambda: _piano_note(m, int(2.4 * SR), p.rng))
    n = min(n, len(full))
    return full[:n] * np.minimum(1.0, (n - np.arange(n)) / (0.05 * SR))


def _waltz(p: _Piece) -> list[Stem]:
    """Solo piano in 3/4: bass on one, chords on two and three, a right-hand melody; room reverb."""
    rng = p.rng
    bar = 3.0
    chord_beats = bar * (1 if rng.random() < 0.5 else 2)
    beats = p.n / SR / p.beat
    left = np.zeros(p.n)
    n_bass = int(1.2 * p.beat * SR)
    n_chord = int(0.8 * p.beat * SR)
    for b in range(int(beats) + 1):
        deg = _chord_at(p, b, chord_beats)
        if b % 3 == 0:
            m = p.degree(deg, -1)
            _place(left, _piano(p, m, n_bass), b * p.beat, 0.5)
        else:
            for m in p.chord(deg, 3, octave=0):
                _place(left, _piano(p, m, n_chord), b * p.beat, 0.2)
    right = np.zeros(p.n)
    for b, d, m in _melody(
        p,
        lo=p.root + 19,
        hi=p.root + 33,
        beats=beats,
        chord_beats=chord_beats,
        durations=[1.0, 2.0, 0.5, 3.0],
        weights=[5, 2, 3, 1],
        rest=0.05,
    ):
        n = int((d * p.beat + 0.4) * SR)
        _place(
            right,
            _piano(p, m, n),
            b * p.beat,
            rng.uniform(0.35, 0.5),
        )
    phrase = 0.8 + 0.2 * np.sin(2 * np.pi * _time(p.n) / (8 * bar * p.beat))
    stems = [(left * phrase, -0.2), (right * phrase, 0.2)]
    return _reverb_stems([(x * p.gain(), pan) for x, pan in stems], rng, 1.6, 0.3)


def _rock(p: _Piece) -> list[Stem]:
    """Two distorted Karplus-Strong power-chord guitars, plucked bass, a straight rock beat."""
    rng = p.rng
    chord_beats = 4.0
    beats = p.n / SR / p.beat
    n_chug = int(0.5 * p.beat * SR)
    drive = rng.uniform(6, 10)
    guitars = [np.zeros(p.n), np.zeros(p.n)]
    bass = np.zeros(p.n)
    for k in range(int(beats * 2) + 1):
        b = k * 0.5
        deg = _chord_at(p, b, chord_beats)
        root = p.degree(deg, -1)
        if root > 52:
            root -= 12

        def power(root: int = root) -> np.ndarray:
            x = sum(_pluck(_hz(m), n_chug, rng, t60=1.5, bright=0.9) for m in (root, root + 7, root + 12))
            return np.tanh(drive * x) * _adsr(n_chug, 0.002, 0.05, 0.9, 0.02)

        for side in (0, 1):
            _place(
                guitars[side],
                p.note(("gtr", root, side), lambda r=root: power(r)),
                b * p.beat + side * 0.012,
                0.3,
            )
        m = root - 12
        _place(
            bass,
            p.note(("bass", m), lambda m=m: _pluck(_hz(m), n_chug, rng, t60=2.0, bright=0.4)),
            b * p.beat,
            0.9,
        )
    guitars = [_filt(_filt(g, "lowpass", 4500, 4), "highpass", 90) for g in guitars]
    bass = _filt(bass, "lowpass", 1200)
    fill_every = int(rng.choice([4, 8]))
    drums = _drums(
        p,
        {
            "kick": (
                _kick(p, f0=rng.uniform(55, 65), decay=0.2, click=0.6),
                [1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0.7, 0, 0, 0, 0, 0],
            ),
            "snare": (_snare(p, tone=rng.uniform(170, 210), decay=0.16), [0, 0, 0, 0, 1, 0, 0, 0] * 2),
            "hat": (_hat(p, 0.04, 6500), [0.5, 0, 0.35, 0] * 4),
        },
        steps=16,
        step_beats=0.25,
        jitter=0.005,
    )
    crash = _hat(p, 0.9, 4000)
    for bar in range(0, int(beats / 4) + 1, fill_every):
        _place(drums, crash, bar * 4 * p.beat, 0.6)
    drums = _reverb(drums, rng, 0.8, 0.2)
    return [
        (guitars[0] * p.gain(), -0.7),
        (guitars[1] * p.gain(), 0.7),
        (bass * p.gain(), 0.0),
        (drums * p.gain(), 0.0),
    ]


def _lofi(p: _Piece) -> list[Stem]:
    """Swung boom-bap, FM electric-piano seventh chords, a round bass, wow, vinyl crackle and hiss."""
    rng = p.rng
    chord_beats = 4.0
    beats = p.n / SR / p.beat
    keys = np.zeros(p.n)
    comp = [0.0, 1.5] if rng.random() < 0.5 else [0.0, 2.5]
    for slot in range(int(beats / chord_beats) + 1):
        deg = p.prog[slot % len(p.prog)]
        for off in comp:
            n = int(((chord_beats - off) if off else 1.5) * p.beat * SR)
            for m in p.chord(deg, 4, octave=0):  # seventh chords

                def ep(m: int = m, n: int = n) -> np.ndarray:
                    f = _hz(m)
                    env = _exp_env(n, 1.2, 0.004)
                    return _fm(f, n, 1.0, 1.6 * _exp_env(n, 0.25) + 0.3, env) + 0.05 * _fm(
                        f * 14, n, 1, 0, _exp_env(n, 0.03)
                    )

                _place(keys, p.note(("ep", m, n), ep), (slot * chord_beats + off) * p.beat, 0.18)
    bass = np.zeros(p.n)
    n_b = int(1.4 * p.beat * SR)
    for slot in range(int(beats / chord_beats) + 1):
        m = p.degree(p.prog[slot % len(p.prog)], -1)
        note = p.note(
            ("bass", m),
            lambda m=m: (
                np.tanh(1.5 * np.sin(2 * np.pi * _hz(m) * _time(n_b))) * _adsr(n_b, 0.01, 0.3, 0.6, 0.1)
            ),
        )
        for off in (0.0, 2.5):
            _place(bass, note, (slot * chord_beats + off) * p.beat, 0.5)
    kick_alt = [1, 0, 0, 0, 0, 0, 0, 0.6, 0, 0, 1, 0, 0, 0, 0, 0]
    drums = _drums(
        p,
        {
            "kick": (_kick(p, f0=rng.uniform(50, 60), decay=0.22, click=0.1), kick_alt),
            "snare": (
                _snare(p, tone=rng.uniform(160, 200), decay=0.18, band=(600, 4000)),
                [0, 0, 0, 0, 0.9, 0, 0, 0] * 2,
            ),
            "hat": (_hat(p, 0.035, 5000), [0.2, 0, 0.1, 0] * 4),
        },
        steps=16,
        step_beats=0.25,
        swing=rng.uniform(0.18, 0.3),
        jitter=0.006,
    )
    drums = _filt(drums, "lowpass", rng.uniform(2500, 3500))
    # tape wow on the keys: a slowly modulated read position
    t = np.arange(p.n)
    pos = t + 0.0025 * SR * np.sin(2 * np.pi * rng.uniform(0.4, 0.8) * t / SR)
    keys = np.interp(pos, t, keys)
    keys = _filt(keys, "lowpass", rng.uniform(2500, 3500))
    crackle = np.zeros(p.n)
    idx = rng.choice(p.n, size=int(p.n / SR * rng.uniform(8, 15)), replace=False)
    crackle[idx] = rng.uniform(-1, 1, len(idx))
    crackle = _filt(crackle, "bandpass", (800, 4000)) * 0.6 + 0.005 * _filt(
        rng.standard_normal(p.n), "lowpass", 4000
    )
    stems = [(keys * p.gain(), -0.2), (bass * p.gain(), 0.0), (0.5 * drums * p.gain(), 0.0), (crackle, 0.3)]
    return _reverb_stems(stems, rng, 0.9, 0.2)


def _saturate(drive: float) -> Callable[[np.ndarray], np.ndarray]:
    """Soft clipping after peak normalisation: louder, flatter dynamics for the electronic styles."""

    def master(x: np.ndarray) -> np.ndarray:
        return np.tanh(drive * x / (np.abs(x).max() + 1e-12))

    return master


@dataclass(frozen=True)
class _Style:
    name: str
    render: Callable[[_Piece], list[Stem]]
    bpm: float
    roots: tuple[int, ...]  # pitch classes of the keys it is played in
    modes: tuple[str, ...]
    progressions: tuple[tuple[int, ...], ...]
    artists: tuple[str, str]
    albums: tuple[str, str]


_STYLES: tuple[_Style, ...] = (
    _Style(
        "ambient pad",
        _ambient,
        60,
        (2, 4, 5, 9, 10),
        ("lydian", "major"),
        ((0, 3), (0, 1, 3, 0), (0, 5, 3, 4), (0, 3, 5, 1)),
        ("Glass Horizon", "Mira Solenne"),
        ("Slow Weather", "Low Cloud Atlas"),
    ),
    _Style(
        "techno",
        _techno,
        127,
        (9, 5, 7, 0, 3),
        ("minor", "phrygian"),
        ((0, 0, 5, 6), (0, 1), (0, 5), (0, 3, 0, 6)),
        ("Kessler Unit", "Nacht Relay"),
        ("Warehouse Grid", "Concrete Pulse"),
    ),
    _Style(
        "chiptune",
        _chiptune,
        150,
        (0, 2, 7, 5, 9),
        ("major",),
        ((0, 4, 5, 3), (0, 3, 4, 0), (0, 5, 3, 4), (5, 3, 0, 4)),
        ("Pixel Lantern", "8-Bit Orchard"),
        ("Save Point", "Cartridge Dreams"),
    ),
    _Style(
        "string ballad",
        _ballad,
        70,
        (2, 4, 9, 0, 7),
        ("minor",),
        ((0, 5, 2, 6), (0, 3, 6, 2), (0, 5, 3, 4), (0, 3, 4, 0)),
        ("Aurelia Quartet", "Henrik Vale Strings"),
        ("Letters Unsent", "Winter Harbour"),
    ),
    _Style(
        "drum and bass",
        _dnb,
        174,
        (5, 7, 9, 4, 2),
        ("minor", "dorian"),
        ((0, 5, 6, 4), (0, 3, 5, 6), (0, 6, 5, 3)),
        ("Subfield", "Amen Cartography"),
        ("Night Bus Science", "Pressure Lines"),
    ),
    _Style(
        "piano waltz",
        _waltz,
        96,
        (0, 5, 7, 10, 3, 2),
        ("major",),
        ((0, 3, 4, 0), (0, 5, 1, 4), (0, 1, 4, 0), (0, 3, 1, 4)),
        ("Clara Morrow", "Ilya Benedek"),
        ("Valses for a Small Room", "The Ballroom at Noon"),
    ),
    _Style(
        "rock",
        _rock,
        120,
        (4, 9, 2, 7, 0),
        ("mixolydian", "major", "minor"),
        ((0, 6, 3, 0), (0, 3, 4, 3), (0, 5, 3, 4), (0, 3, 0, 4)),
        ("The Rusted Engines", "Velvet Static"),
        ("Highway Fever", "Amplifier Weather"),
    ),
    _Style(
        "lo-fi hip hop",
        _lofi,
        88,
        (3, 8, 1, 10, 5),  # the flat keys of jazz-derived harmony
        ("major", "dorian"),
        ((1, 4, 0, 5), (0, 3), (0, 5, 1, 4), (3, 4, 2, 5)),
        ("Cassette Fern", "Sleepy Kettle"),
        ("Rainy Window Tapes", "Homework Loops"),
    ),
)

STYLES: tuple[str, ...] = tuple(s.name for s in _STYLES)
"""The style names; each is the ``genre`` tag of its pieces and the ground-truth label."""

# Masters: the electronic and rock styles are driven into soft clipping, the acoustic ones stay dynamic.
_MASTERS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "techno": _saturate(2.0),
    "drum and bass": _saturate(1.6),
    "rock": _saturate(1.8),
    "lo-fi hip hop": _saturate(1.2),
}


def slug(name: str) -> str:
    """File-system name of a style: ``"lo-fi hip hop"`` -> ``"lo-fi-hip-hop"``."""
    return name.replace(" ", "-")


# --------------------------------------------------------------------------------------------------
# Rendering, writing and tagging one piece


def render_piece(style: str, index: int, *, seed: int = 0, stereo: bool = False) -> np.ndarray:
    """Render piece ``index`` of ``style`` at ``SR`` Hz, peak-normalised to between -1 and -4 dBFS.

    Returns shape (n,) if mono, (n, 2) if stereo. Pure function of (seed, style, index).
    """
    si = STYLES.index(style)
    st = _STYLES[si]
    rng = np.random.default_rng([seed, si, index])
    duration = rng.uniform(20.0, 40.0)
    prog = list(st.progressions[int(rng.integers(len(st.progressions)))])
    rot = int(rng.integers(len(prog)))
    prog = prog[rot:] + prog[:rot]
    if len(prog) > 2 and rng.random() < 0.3:
        tail = prog[1:]
        rng.shuffle(tail)
        prog = prog[:1] + tail
    piece = _Piece(
        rng=rng,
        n=int(duration * SR),
        bpm=st.bpm * rng.uniform(0.94, 1.06),
        root=48 + int(rng.choice(st.roots)),
        mode=str(rng.choice(st.modes)),
        prog=prog,
    )
    stems = st.render(piece)
    if stereo:
        mix = np.zeros((piece.n, 2))
        for x, pan in stems:
            angle = (pan + 1) * np.pi / 4
            mix[:, 0] += np.cos(angle) * np.sqrt(2) * x
            mix[:, 1] += np.sin(angle) * np.sqrt(2) * x
    else:
        mix = np.sum([x for x, _ in stems], axis=0)
    mix = _filt(mix.T, "highpass", 25).T  # no DC, no subsonic rumble
    if style in _MASTERS:
        mix = _MASTERS[style](mix)
    fade = np.minimum(
        1.0, np.minimum(np.arange(piece.n) / (0.02 * SR), (piece.n - np.arange(piece.n)) / (1.5 * SR))
    )
    mix = mix * (fade[:, None] if stereo else fade)
    peak_db = -1.0 - rng.uniform(0.0, 3.0)  # -1 dBFS at most: lossy codecs may overshoot a little
    mix = mix / (np.abs(mix).max() + 1e-12) * 10 ** (peak_db / 20)
    if not np.all(np.isfinite(mix)):  # pragma: no cover - a synthesis bug, never expected
        raise RuntimeError(f"non-finite samples in {style} {index}")
    return mix.astype(np.float32)


def _resample(x: np.ndarray, sr: int) -> np.ndarray:
    if sr == SR:
        return x
    g = np.gcd(sr, SR)
    y = sps.resample_poly(x, sr // g, SR // g, axis=0)
    return np.clip(y, -1.0, 1.0).astype(np.float32)


def _write_audio(path: Path, x: np.ndarray, ext: str, sr: int) -> None:
    """Lossless formats and Vorbis through libsndfile; MP3, Opus and AAC through PyAV (FFmpeg).

    PyAV's encoders are 2-5x faster here than libsndfile's MP3/Opus (which also lacks AAC), and its
    resampler converts ``SR`` to the stream rate, so ``x`` is at ``SR`` for those formats.
    """
    import soundfile as sf

    if ext == "wav":
        sf.write(path, x, sr, format="WAV", subtype="PCM_16")
    elif ext == "aiff":
        sf.write(path, x, sr, format="AIFF", subtype="PCM_16")
    elif ext == "flac":
        sf.write(path, x, sr, format="FLAC", subtype="PCM_16")
    elif ext == "ogg":
        sf.write(path, x, sr, format="OGG", subtype="VORBIS")
    elif ext == "mp3":
        _write_av(path, x, "mp3", "libmp3lame", sr, 64_000, {"compression_level": "7"})
    elif ext == "opus":
        _write_av(path, x, "ogg", "libopus", sr, 96_000, {"compression_level": "5"})
    elif ext == "m4a":
        _write_av(path, x, "ipod", "aac", sr, 96_000, {"aac_coder": "fast"})
    else:  # pragma: no cover
        raise ParameterError(f"unknown format {ext!r}")


def _write_av(
    path: Path, x: np.ndarray, container_format: str, codec: str, rate: int, bit_rate: int, options: dict
) -> None:
    """Encode ``x`` (at ``SR``) with an FFmpeg codec at stream rate ``rate``."""
    import av

    layout = "stereo" if x.ndim == 2 else "mono"
    planar = np.ascontiguousarray(x.T if x.ndim == 2 else x[None, :], dtype=np.float32)
    with av.open(str(path), "w", format=container_format) as container:
        stream = container.add_stream(codec, rate=rate, layout=layout, options=options)
        stream.bit_rate = bit_rate
        hop = SR // 2
        for i in range(0, planar.shape[1], hop):
            frame = av.AudioFrame.from_ndarray(planar[:, i : i + hop], format="fltp", layout=layout)
            frame.sample_rate = SR
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def _tag(path: Path, ext: str, tags: dict[str, str]) -> None:
    """Write title/artist/album/genre/tracknumber in each format's native tag system."""
    import mutagen

    if ext in ("wav", "aiff"):
        from mutagen.aiff import AIFF
        from mutagen.id3 import TALB, TCON, TIT2, TPE1, TRCK
        from mutagen.wave import WAVE

        f = WAVE(path) if ext == "wav" else AIFF(path)
        if f.tags is None:
            f.add_tags()
        for frame, key in (
            (TIT2, "title"),
            (TPE1, "artist"),
            (TALB, "album"),
            (TCON, "genre"),
            (TRCK, "tracknumber"),
        ):
            f.tags.add(frame(encoding=3, text=[tags[key]]))
        f.save()
        return
    f = mutagen.File(path, easy=True)
    if f is None:  # pragma: no cover
        raise RuntimeError(f"mutagen cannot open {path}")
    if f.tags is None:
        f.add_tags()
    for key, value in tags.items():
        f[key] = [value]
    f.save()


def _write_piece(path: Path, style_index: int, index: int, seed: int, ext: str, total: int) -> None:
    st = _STYLES[style_index]
    sr, channels = _FORMAT_LAYOUT[ext]
    audio = render_piece(st.name, index, seed=seed, stereo=channels == 2)
    if ext in _SNDFILE_FORMATS:
        audio = _resample(audio, sr)
    tmp = path.with_name(f".{path.stem}.partial.{ext}")
    try:
        _write_audio(tmp, audio, ext, sr)
        _tag(
            tmp,
            ext,
            {
                "title": f"{st.name.title()} {index + 1:02d}",
                "artist": st.artists[index % 2],
                "album": st.albums[index % 2],
                "genre": st.name,
                "tracknumber": f"{index + 1}/{total}",
            },
        )
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def demo_paths(out_dir: Path, *, per_style: int = 15) -> list[Path]:
    """The paths ``generate_demo`` writes, in order, without rendering anything."""
    out: list[Path] = []
    for si, st in enumerate(_STYLES):
        for i in range(per_style):
            ext = FORMATS[(si + i) % len(FORMATS)]
            out.append(Path(out_dir) / slug(st.name) / f"{slug(st.name)}_{i + 1:02d}.{ext}")
    return out


def generate_demo(out_dir: Path, *, per_style: int = 15, seed: int = 0, progress: bool = False) -> list[Path]:
    """Write ``per_style`` pieces of every style under ``out_dir/<style>/`` and return their paths.

    Existing files of the same name are overwritten (atomically, piece by piece); nothing else in
    ``out_dir`` is touched. ``progress`` prints one line per piece to stderr.
    """
    if per_style < 1:
        raise ParameterError(f"per_style must be >= 1, got {per_style}")
    paths = demo_paths(out_dir, per_style=per_style)
    for k, path in enumerate(paths):
        si, i = divmod(k, per_style)
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_piece(path, si, i, seed, path.suffix[1:], per_style)
        if progress:
            print(f"[{k + 1}/{len(paths)}] {path}", file=sys.stderr, flush=True)
    return paths


DEMO_FOLDER = "demo-audio"


def ensure_demo_audio(folder: Path, *, per_style: int, seed: int = 0) -> Path:
    """Generate the collection once; a marker records what was generated, so a rerun reuses it."""
    marker = folder / ".complete.json"
    want = {"per_style": per_style, "seed": seed}
    if marker.exists() and json.loads(marker.read_text()) == want:
        return folder
    print(f"generating the demo collection in {folder} ...", file=sys.stderr)
    generate_demo(folder, per_style=per_style, seed=seed, progress=True)
    marker.write_text(json.dumps(want))
    return folder
