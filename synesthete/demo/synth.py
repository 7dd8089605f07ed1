"""Synthesis primitives for the demo collection: oscillators, envelopes, filters, effects and drums.

Everything is a pure function of its arguments and of the ``Piece``'s own random generator, so a piece
renders the same samples every time. Signals are float64 at ``SR`` until ``styles.render_piece`` masters
them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import signal as sps

SR = 22050
"""Synthesis sample rate; files are written at this rate except where a format column says otherwise."""

Stem = tuple[np.ndarray, float]  # (mono signal, pan in [-1, 1])

MODES: dict[str, tuple[int, ...]] = {
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
class Piece:
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
        scale = MODES[self.mode]
        return self.root + 12 * (octave + deg // 7) + scale[deg % 7]

    def chord(self, deg: int, size: int = 3, octave: int = 0) -> list[int]:
        """Diatonic chord stacked in thirds on ``deg``: triad, seventh (4), ninth (5)."""
        return [self.degree(deg + 2 * i, octave) for i in range(size)]

    def gain(self, db: float = 2.0) -> float:
        """A random mix gain of ±``db`` decibels, so no two mixes are the same."""
        return float(10 ** (self.rng.uniform(-db, db) / 20))


def hz(midi: float) -> float:
    return 440.0 * 2 ** ((midi - 69) / 12)


def sample_times(n: int) -> np.ndarray:
    return np.arange(n) / SR


def place(buf: np.ndarray, sig: np.ndarray, start_s: float, gain: float = 1.0) -> None:
    """Mix ``sig`` into ``buf`` at ``start_s`` seconds, cutting what runs past the end."""
    i = max(0, round(start_s * SR))
    if i >= len(buf):
        return
    m = min(len(sig), len(buf) - i)
    buf[i : i + m] += gain * sig[:m]


def adsr(n: int, a: float, d: float, s: float, r: float) -> np.ndarray:
    """Linear attack-decay-sustain-release envelope over ``n`` samples (times in seconds)."""
    dur = n / SR
    a, d, r = (min(x, dur / 3) for x in (a, d, r))
    return np.interp(sample_times(n), [0, a, a + d, dur - r, dur], [0, 1, s, s, 0])


def exp_env(n: int, tau: float, attack: float = 0.003) -> np.ndarray:
    t = sample_times(n)
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


def saw(cycles: np.ndarray, dt: float) -> np.ndarray:
    p = cycles % 1.0
    return 2 * p - 1 - _blep(p, dt)


def pulse(cycles: np.ndarray, dt: float, duty: float) -> np.ndarray:
    return saw(cycles, dt) - saw(cycles + duty, dt)


def cycles(freq: float, n: int, vib_rate: float = 0.0, vib_depth: float = 0.0, phase: float = 0.0):
    """Oscillator phase in cycles, with optional vibrato (depth as a fraction of ``freq``)."""
    if vib_depth == 0:
        return freq * sample_times(n) + phase
    f = freq * (1 + vib_depth * np.sin(2 * np.pi * vib_rate * sample_times(n)))
    return np.cumsum(f) / SR + phase


def _sos(kind: str, cutoff: float | Sequence[float], order: int = 2) -> np.ndarray:
    return sps.butter(order, cutoff, btype=kind, fs=SR, output="sos")


def filt(x: np.ndarray, kind: str, cutoff: float | Sequence[float], order: int = 2) -> np.ndarray:
    return sps.sosfilt(_sos(kind, cutoff, order), x)


def reverb(x: np.ndarray, rng: np.random.Generator, seconds: float, mix: float) -> np.ndarray:
    """Convolution with a decaying-noise impulse response: cheap, dense, good enough for a demo."""
    n = int(seconds * SR)
    ir = rng.standard_normal(n) * np.exp(-6.9 * sample_times(n) / seconds)
    ir = filt(ir, "lowpass", 4500)
    ir /= np.sqrt(np.sum(ir**2))
    wet = sps.oaconvolve(x.astype(np.float32), ir.astype(np.float32))[: len(x)]  # float32 FFTs: 2x faster
    return (1 - mix) * x + mix * wet


def reverb_stems(stems: list[Stem], rng: np.random.Generator, seconds: float, mix: float) -> list[Stem]:
    """One shared reverb (a send bus) for all stems: one convolution per piece instead of one per stem."""
    wet = reverb(np.sum([x for x, _ in stems], axis=0), rng, seconds, 1.0)
    return [(x * (1 - mix), pan) for x, pan in stems] + [(wet * mix, 0.0)]


def pluck(freq: float, n: int, rng: np.random.Generator, *, t60: float, bright: float = 0.7) -> np.ndarray:
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


def fm(freq: float, n: int, ratio: float, index: np.ndarray | float, env: np.ndarray) -> np.ndarray:
    t = sample_times(n)
    mod = index * np.sin(2 * np.pi * freq * ratio * t)
    return env * np.sin(2 * np.pi * freq * t + mod)


def melody(
    p: Piece,
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
    scale = set(MODES[p.mode])
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


def chord_at(p: Piece, beat: float, chord_beats: float) -> int:
    return p.prog[int(beat // chord_beats) % len(p.prog)]


# --------------------------------------------------------------------------------------------------
# Drums: one-shots rendered once per piece (with slight random variation), then placed on a grid


def kick_drum(
    p: Piece, f0: float = 50, f1: float = 160, decay: float = 0.3, click: float = 0.3
) -> np.ndarray:
    n = int(decay * 4 * SR)
    t = sample_times(n)
    f = f0 + (f1 - f0) * np.exp(-t / 0.035)
    body = np.sin(2 * np.pi * np.cumsum(f) / SR) * np.exp(-t / decay)
    return body + click * p.rng.standard_normal(n) * np.exp(-t / 0.004)


def snare_drum(p: Piece, tone: float = 190, decay: float = 0.13, band=(900, 7000)) -> np.ndarray:
    n = int(decay * 5 * SR)
    t = sample_times(n)
    noise = filt(p.rng.standard_normal(n), "bandpass", band) * np.exp(-t / decay)
    body = np.sin(2 * np.pi * tone * t) * np.exp(-t / 0.05)
    return 0.8 * noise / np.abs(noise).max() + 0.5 * body


def hi_hat(p: Piece, decay: float = 0.03, cutoff: float = 7000) -> np.ndarray:
    n = int(decay * 6 * SR)
    x = filt(p.rng.standard_normal(n), "highpass", cutoff) * np.exp(-sample_times(n) / decay)
    return x / np.abs(x).max()


def clap(p: Piece) -> np.ndarray:
    n = int(0.35 * SR)
    t = sample_times(n)
    env = np.exp(-t / 0.09)
    for k in (0.0, 0.011, 0.022):
        env += 0.8 * np.exp(-np.maximum(t - k, 0) / 0.004) * (t >= k)
    x = filt(p.rng.standard_normal(n), "bandpass", (800, 3500)) * env
    return x / np.abs(x).max()


def drum_track(
    p: Piece,
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
                place(buf, sample, t, v * p.rng.uniform(0.85, 1.0))
    return buf


def saturate(drive: float) -> Callable[[np.ndarray], np.ndarray]:
    """Soft clipping after peak normalisation: louder, flatter dynamics for the electronic styles."""

    def master(x: np.ndarray) -> np.ndarray:
        return np.tanh(drive * x / (np.abs(x).max() + 1e-12))

    return master
