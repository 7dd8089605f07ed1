"""The eight demo styles: how each renders a piece, its tempo, keys, modes, progressions and names.

Each render turns a ``Piece`` into (signal, pan) stems; ``render_piece`` draws the piece's key, tempo
and progression from ``np.random.default_rng([seed, style, index])``, mixes the stems and masters them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from synesthete.demo.synth import (
    SR,
    Piece,
    Stem,
    adsr,
    chord_at,
    clap,
    cycles,
    drum_track,
    exp_env,
    filt,
    fm,
    hi_hat,
    hz,
    kick_drum,
    melody,
    place,
    pluck,
    pulse,
    reverb,
    reverb_stems,
    sample_times,
    saturate,
    saw,
    snare_drum,
)


def _ambient(p: Piece) -> list[Stem]:
    """Slow swelling detuned-saw pads, a sine sub, sparse FM bells, wind; long reverb, no drums."""
    rng = p.rng
    chord_s = 8 * p.beat
    cutoff = rng.uniform(500, 900)
    shimmer = np.zeros(p.n)
    pad = np.zeros(p.n)
    sub = np.zeros(p.n)
    n_chord = int((chord_s + 2.5) * SR)
    env = adsr(n_chord, 2.5, 0.5, 0.8, 2.5)
    for slot in range(int(p.n / SR / chord_s) + 1):
        deg = p.prog[slot % len(p.prog)]
        for m in p.chord(deg, 4, octave=0):

            def voice(m: int = m) -> np.ndarray:
                f = hz(m)
                x = sum(saw(cycles(f * 2 ** (c / 1200), n_chord, phase=c / 7), f / SR) for c in (-6, 6))
                return x * env

            place(pad, p.note(("pad", m), voice), slot * chord_s, 0.25)
            place(
                shimmer,
                p.note(
                    ("shim", m), lambda m=m: np.sin(2 * np.pi * hz(m + 24) * sample_times(n_chord)) * env**2
                ),
                slot * chord_s,
                0.06,
            )
        bass = p.degree(deg, -1)
        place(
            sub,
            p.note(("sub", bass), lambda b=bass: np.sin(2 * np.pi * hz(b) * sample_times(n_chord)) * env),
            slot * chord_s,
            0.5,
        )
    pad = filt(pad, "lowpass", cutoff)
    bells = np.zeros(p.n)
    t = rng.uniform(1, 3)
    while t < p.n / SR:
        m = p.degree(int(rng.integers(0, 8)), 2)
        n = int(3 * SR)
        bells_note = p.note(
            ("bell", m), lambda m=m, n=n: fm(hz(m), n, 3.5, 2 * exp_env(n, 0.4), exp_env(n, 0.9))
        )
        place(bells, bells_note, t, rng.uniform(0.08, 0.2))
        t += rng.uniform(1.5, 4.5)
    wind = filt(rng.standard_normal(p.n), "bandpass", (300, 1500)) * (
        0.5 + 0.5 * np.sin(2 * np.pi * sample_times(p.n) / rng.uniform(7, 13))
    )
    swell = 0.65 + 0.35 * np.sin(2 * np.pi * sample_times(p.n) / rng.uniform(12, 20) + rng.uniform(0, 6.3))
    stems = [(pad * swell, -0.3), (sub * swell, 0.0), (shimmer, 0.3), (bells, 0.4), (0.06 * wind, 0.1)]
    return reverb_stems([(x * p.gain(), pan) for x, pan in stems], rng, 5.0, 0.65)


def _techno(p: Piece) -> list[Stem]:
    """Four-on-the-floor kick, clap, 16th hats, a filtered-saw 16th bassline and minor stabs; dry."""
    rng = p.rng
    kick = kick_drum(p, f0=rng.uniform(45, 55), decay=0.25, click=0.4)
    drums = drum_track(
        p,
        {
            "kick": (kick, [1, 0, 0, 0] * 4),
            "clap": (clap(p), [0, 0, 0, 0, 0.7, 0, 0, 0] * 2),
            "hat": (hi_hat(p, 0.025), [0.3, 0.2, 0.6, 0.2] * 4),
            "open": (hi_hat(p, 0.12, 6000), [0, 0, 0.45, 0] * 4),
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
                f = hz(m)
                x = saw(cycles(f, n_note), f / SR) * exp_env(n_note, 0.08)
                return filt(x, "lowpass", cut)

            place(bass, p.note(("bass", m, cut), bass_note), (bar * 16 + k) * step)
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
                    lambda m=m: pulse(cycles(hz(m), n_stab), hz(m) / SR, 0.3) * exp_env(n_stab, 0.07),
                )
                place(stab, note, (bar * 16 + k) * step, 0.3)
    stab = filt(stab, "bandpass", (400, rng.uniform(2500, 4000)))
    return [(drums * p.gain(), 0.0), (0.8 * bass * p.gain(), 0.0), (stab * p.gain(), 0.3)]


def _chiptune(p: Piece) -> list[Stem]:
    """Pulse-wave lead and arpeggios, a stepped triangle bass and noise-channel drums; no effects."""
    rng = p.rng
    chord_beats = 4.0
    beats = p.n / SR / p.beat
    duty = float(rng.choice([0.125, 0.25]))
    lead = np.zeros(p.n)
    for b, d, m in melody(
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
            lambda m=m, n=n: pulse(cycles(hz(m), n), hz(m) / SR, duty) * adsr(n, 0.002, 0.05, 0.7, 0.01),
        )
        place(lead, note, b * p.beat)
    arp = np.zeros(p.n)
    sub = 0.25 if rng.random() < 0.5 else 1 / 6
    n_arp = int(sub * p.beat * SR)
    bass = np.zeros(p.n)
    n_bass = int(0.5 * p.beat * SR * 0.85)
    for k in range(int(beats / sub) + 1):
        b = k * sub
        chord = p.chord(chord_at(p, b, chord_beats), 3, octave=1)
        m = chord[k % 3]
        place(arp, p.note(("arp", m), lambda m=m: pulse(cycles(hz(m), n_arp), hz(m) / SR, 0.5)), b * p.beat)
    for k in range(int(beats * 2) + 1):
        b = k * 0.5
        m = p.degree(chord_at(p, b, chord_beats), -1) + (12 if k % 2 else 0)

        def tri(m: int = m) -> np.ndarray:
            ph = cycles(hz(m), n_bass) % 1.0
            return np.round((4 * np.abs(ph - 0.5) - 1) * 7.5) / 7.5

        place(bass, p.note(("tri", m), tri), b * p.beat)

    def noise(n: int, hold: int, tau: float) -> np.ndarray:
        x = np.repeat(rng.choice([-1.0, 1.0], n // hold + 1), hold)[:n]
        return x * exp_env(n, tau)

    kick_n = int(0.12 * SR)
    kt = sample_times(kick_n)
    kick = (4 * np.abs((np.cumsum(60 + 200 * np.exp(-kt / 0.02)) / SR) % 1 - 0.5) - 1) * np.exp(-kt / 0.05)
    drums = drum_track(
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


def _ballad(p: Piece) -> list[Stem]:
    """A bowed string section with vibrato, a violin melody and cello bass; a slow crescendo."""
    rng = p.rng
    chord_beats = 4.0
    beats = p.n / SR / p.beat
    n_chord = int((chord_beats * p.beat + 0.6) * SR)
    strings = np.zeros(p.n)
    cello = np.zeros(p.n)

    def bowed(m: int, n: int, attack: float) -> np.ndarray:
        f = hz(m)
        cyc = cycles(f, n, 5.3 + rng.uniform(-0.3, 0.3), 0.006)
        return saw(cyc, f / SR) * adsr(n, attack, 0.2, 0.85, 0.5)

    for slot in range(int(beats / chord_beats) + 1):
        deg = p.prog[slot % len(p.prog)]
        for m in p.chord(deg, 3, octave=1):
            place(
                strings,
                p.note(("str", m), lambda m=m: bowed(m, n_chord, 0.5)),
                slot * chord_beats * p.beat,
                0.25,
            )
        m = p.degree(deg, -1)
        place(
            cello, p.note(("cello", m), lambda m=m: bowed(m, n_chord, 0.3)), slot * chord_beats * p.beat, 0.4
        )
    violin = np.zeros(p.n)
    for b, d, m in melody(
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
        place(violin, p.note(("vln", m, n), lambda m=m, n=n: bowed(m, n, 0.12)), b * p.beat, 0.3)
    harp = np.zeros(p.n)  # plucked eighth-note arpeggios: the accompaniment moves, unlike a pad
    n_h = int(1.5 * SR)
    for k in range(int(beats * 2) + 1):
        chord = p.chord(chord_at(p, k / 2, chord_beats), 3, octave=0)
        m = [*chord, chord[0] + 12][(0, 1, 2, 3, 2, 1)[k % 6]]
        note = p.note(("harp", m), lambda m=m: pluck(hz(m), n_h, rng, t60=1.2, bright=0.6))
        place(harp, note, k / 2 * p.beat, 0.35 if k % 8 else 0.5)
    strings = filt(strings, "lowpass", rng.uniform(3500, 4500))
    cello = filt(cello, "lowpass", 1500)
    violin = filt(violin, "bandpass", (300, 5000))
    t = sample_times(p.n) / (p.n / SR)
    peak = rng.uniform(0.6, 0.85)
    arc = np.interp(t, [0, peak, 1], [0.3, 1.0, 0.55])
    stems = [(strings, -0.4), (cello, 0.3), (violin, 0.15), (harp, -0.1)]
    return reverb_stems([(x * arc * p.gain(), pan) for x, pan in stems], rng, 2.0, 0.35)


def _dnb(p: Piece) -> list[Stem]:
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
    drums = drum_track(
        p,
        {
            "kick": (kick_drum(p, f0=rng.uniform(48, 58), decay=0.18, click=0.5), kick_pat),
            "snare": (snare_drum(p, tone=rng.uniform(180, 230), decay=0.11, band=(1500, 8000)), snare_pat),
            "hat": (hi_hat(p, 0.02, 8000), [0.45, 0.25] * 16),
            "ride": (hi_hat(p, 0.25, 5000), [0, 0, 0.25, 0] * 8),
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
            f = hz(m)
            x = saw(cycles(f * 0.994, n_bar), f / SR) + saw(cycles(f * 1.006, n_bar, phase=0.3), f / SR)
            return x * adsr(n_bar, 0.02, 0.1, 0.9, 0.1)

        place(reese, p.note(("reese", m), reese_note), slot * 2 * bar_s, 0.35)
        place(
            sub,
            p.note(
                ("sub", m),
                lambda m=m: (
                    np.sin(2 * np.pi * hz(m) * sample_times(n_bar)) * adsr(n_bar, 0.02, 0.1, 0.9, 0.1)
                ),
            ),
            slot * 2 * bar_s,
            0.6,
        )
    reese = filt(reese, "lowpass", rng.uniform(300, 500))
    pad = np.zeros(p.n)
    for slot in range(int(p.n / SR / (2 * bar_s)) + 1):
        for m in p.chord(p.prog[slot % len(p.prog)], 4, octave=1):
            note = p.note(("pad", m), lambda m=m: fm(hz(m), n_bar, 1.0, 0.8, adsr(n_bar, 0.8, 0.5, 0.7, 1.0)))
            place(pad, note, slot * 2 * bar_s, 0.12)
    pad = reverb(pad, rng, 3.0, 0.6)
    return [(drums * p.gain(), 0.0), (reese * p.gain(), 0.0), (sub * p.gain(), 0.0), (pad * p.gain(), -0.3)]


def _piano_note(m: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """Additive piano: slightly stretched partials, higher ones decaying faster, a hammer thump."""
    f = hz(m)
    t = sample_times(n)
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
    hammer = filt(rng.standard_normal(min(n, 400)), "lowpass", 2500) * np.exp(
        -sample_times(min(n, 400)) / 0.004
    )
    x[: len(hammer)] += 0.15 * hammer
    return x * np.minimum(1.0, t / 0.002)


def _piano(p: Piece, m: int, n: int) -> np.ndarray:
    """A piano note of ``n`` samples: one long render per pitch, cut with a 50 ms damper release."""
    full = p.note(("piano", m), lambda: _piano_note(m, int(2.4 * SR), p.rng))
    n = min(n, len(full))
    return full[:n] * np.minimum(1.0, (n - np.arange(n)) / (0.05 * SR))


def _waltz(p: Piece) -> list[Stem]:
    """Solo piano in 3/4: bass on one, chords on two and three, a right-hand melody; room reverb."""
    rng = p.rng
    bar = 3.0
    chord_beats = bar * (1 if rng.random() < 0.5 else 2)
    beats = p.n / SR / p.beat
    left = np.zeros(p.n)
    n_bass = int(1.2 * p.beat * SR)
    n_chord = int(0.8 * p.beat * SR)
    for b in range(int(beats) + 1):
        deg = chord_at(p, b, chord_beats)
        if b % 3 == 0:
            m = p.degree(deg, -1)
            place(left, _piano(p, m, n_bass), b * p.beat, 0.5)
        else:
            for m in p.chord(deg, 3, octave=0):
                place(left, _piano(p, m, n_chord), b * p.beat, 0.2)
    right = np.zeros(p.n)
    for b, d, m in melody(
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
        place(
            right,
            _piano(p, m, n),
            b * p.beat,
            rng.uniform(0.35, 0.5),
        )
    phrase = 0.8 + 0.2 * np.sin(2 * np.pi * sample_times(p.n) / (8 * bar * p.beat))
    stems = [(left * phrase, -0.2), (right * phrase, 0.2)]
    return reverb_stems([(x * p.gain(), pan) for x, pan in stems], rng, 1.6, 0.3)


def _rock(p: Piece) -> list[Stem]:
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
        deg = chord_at(p, b, chord_beats)
        root = p.degree(deg, -1)
        if root > 52:
            root -= 12

        def power(root: int = root) -> np.ndarray:
            x = sum(pluck(hz(m), n_chug, rng, t60=1.5, bright=0.9) for m in (root, root + 7, root + 12))
            return np.tanh(drive * x) * adsr(n_chug, 0.002, 0.05, 0.9, 0.02)

        for side in (0, 1):
            place(
                guitars[side],
                p.note(("gtr", root, side), lambda r=root: power(r)),
                b * p.beat + side * 0.012,
                0.3,
            )
        m = root - 12
        place(
            bass,
            p.note(("bass", m), lambda m=m: pluck(hz(m), n_chug, rng, t60=2.0, bright=0.4)),
            b * p.beat,
            0.9,
        )
    guitars = [filt(filt(g, "lowpass", 4500, 4), "highpass", 90) for g in guitars]
    bass = filt(bass, "lowpass", 1200)
    fill_every = int(rng.choice([4, 8]))
    drums = drum_track(
        p,
        {
            "kick": (
                kick_drum(p, f0=rng.uniform(55, 65), decay=0.2, click=0.6),
                [1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0.7, 0, 0, 0, 0, 0],
            ),
            "snare": (snare_drum(p, tone=rng.uniform(170, 210), decay=0.16), [0, 0, 0, 0, 1, 0, 0, 0] * 2),
            "hat": (hi_hat(p, 0.04, 6500), [0.5, 0, 0.35, 0] * 4),
        },
        steps=16,
        step_beats=0.25,
        jitter=0.005,
    )
    crash = hi_hat(p, 0.9, 4000)
    for bar in range(0, int(beats / 4) + 1, fill_every):
        place(drums, crash, bar * 4 * p.beat, 0.6)
    drums = reverb(drums, rng, 0.8, 0.2)
    return [
        (guitars[0] * p.gain(), -0.7),
        (guitars[1] * p.gain(), 0.7),
        (bass * p.gain(), 0.0),
        (drums * p.gain(), 0.0),
    ]


def _lofi(p: Piece) -> list[Stem]:
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
                    f = hz(m)
                    env = exp_env(n, 1.2, 0.004)
                    return fm(f, n, 1.0, 1.6 * exp_env(n, 0.25) + 0.3, env) + 0.05 * fm(
                        f * 14, n, 1, 0, exp_env(n, 0.03)
                    )

                place(keys, p.note(("ep", m, n), ep), (slot * chord_beats + off) * p.beat, 0.18)
    bass = np.zeros(p.n)
    n_b = int(1.4 * p.beat * SR)
    for slot in range(int(beats / chord_beats) + 1):
        m = p.degree(p.prog[slot % len(p.prog)], -1)
        note = p.note(
            ("bass", m),
            lambda m=m: (
                np.tanh(1.5 * np.sin(2 * np.pi * hz(m) * sample_times(n_b))) * adsr(n_b, 0.01, 0.3, 0.6, 0.1)
            ),
        )
        for off in (0.0, 2.5):
            place(bass, note, (slot * chord_beats + off) * p.beat, 0.5)
    kick_alt = [1, 0, 0, 0, 0, 0, 0, 0.6, 0, 0, 1, 0, 0, 0, 0, 0]
    drums = drum_track(
        p,
        {
            "kick": (kick_drum(p, f0=rng.uniform(50, 60), decay=0.22, click=0.1), kick_alt),
            "snare": (
                snare_drum(p, tone=rng.uniform(160, 200), decay=0.18, band=(600, 4000)),
                [0, 0, 0, 0, 0.9, 0, 0, 0] * 2,
            ),
            "hat": (hi_hat(p, 0.035, 5000), [0.2, 0, 0.1, 0] * 4),
        },
        steps=16,
        step_beats=0.25,
        swing=rng.uniform(0.18, 0.3),
        jitter=0.006,
    )
    drums = filt(drums, "lowpass", rng.uniform(2500, 3500))
    # tape wow on the keys: a slowly modulated read position
    t = np.arange(p.n)
    pos = t + 0.0025 * SR * np.sin(2 * np.pi * rng.uniform(0.4, 0.8) * t / SR)
    keys = np.interp(pos, t, keys)
    keys = filt(keys, "lowpass", rng.uniform(2500, 3500))
    crackle = np.zeros(p.n)
    idx = rng.choice(p.n, size=int(p.n / SR * rng.uniform(8, 15)), replace=False)
    crackle[idx] = rng.uniform(-1, 1, len(idx))
    crackle = filt(crackle, "bandpass", (800, 4000)) * 0.6 + 0.005 * filt(
        rng.standard_normal(p.n), "lowpass", 4000
    )
    stems = [(keys * p.gain(), -0.2), (bass * p.gain(), 0.0), (0.5 * drums * p.gain(), 0.0), (crackle, 0.3)]
    return reverb_stems(stems, rng, 0.9, 0.2)


@dataclass(frozen=True)
class Style:
    name: str
    render: Callable[[Piece], list[Stem]]
    bpm: float
    roots: tuple[int, ...]  # pitch classes of the keys it is played in
    modes: tuple[str, ...]
    progressions: tuple[tuple[int, ...], ...]
    artists: tuple[str, str]
    albums: tuple[str, str]


STYLE_SPECS: tuple[Style, ...] = (
    Style(
        "ambient pad",
        _ambient,
        60,
        (2, 4, 5, 9, 10),
        ("lydian", "major"),
        ((0, 3), (0, 1, 3, 0), (0, 5, 3, 4), (0, 3, 5, 1)),
        ("Glass Horizon", "Mira Solenne"),
        ("Slow Weather", "Low Cloud Atlas"),
    ),
    Style(
        "techno",
        _techno,
        127,
        (9, 5, 7, 0, 3),
        ("minor", "phrygian"),
        ((0, 0, 5, 6), (0, 1), (0, 5), (0, 3, 0, 6)),
        ("Kessler Unit", "Nacht Relay"),
        ("Warehouse Grid", "Concrete Pulse"),
    ),
    Style(
        "chiptune",
        _chiptune,
        150,
        (0, 2, 7, 5, 9),
        ("major",),
        ((0, 4, 5, 3), (0, 3, 4, 0), (0, 5, 3, 4), (5, 3, 0, 4)),
        ("Pixel Lantern", "8-Bit Orchard"),
        ("Save Point", "Cartridge Dreams"),
    ),
    Style(
        "string ballad",
        _ballad,
        70,
        (2, 4, 9, 0, 7),
        ("minor",),
        ((0, 5, 2, 6), (0, 3, 6, 2), (0, 5, 3, 4), (0, 3, 4, 0)),
        ("Aurelia Quartet", "Henrik Vale Strings"),
        ("Letters Unsent", "Winter Harbour"),
    ),
    Style(
        "drum and bass",
        _dnb,
        174,
        (5, 7, 9, 4, 2),
        ("minor", "dorian"),
        ((0, 5, 6, 4), (0, 3, 5, 6), (0, 6, 5, 3)),
        ("Subfield", "Amen Cartography"),
        ("Night Bus Science", "Pressure Lines"),
    ),
    Style(
        "piano waltz",
        _waltz,
        96,
        (0, 5, 7, 10, 3, 2),
        ("major",),
        ((0, 3, 4, 0), (0, 5, 1, 4), (0, 1, 4, 0), (0, 3, 1, 4)),
        ("Clara Morrow", "Ilya Benedek"),
        ("Valses for a Small Room", "The Ballroom at Noon"),
    ),
    Style(
        "rock",
        _rock,
        120,
        (4, 9, 2, 7, 0),
        ("mixolydian", "major", "minor"),
        ((0, 6, 3, 0), (0, 3, 4, 3), (0, 5, 3, 4), (0, 3, 0, 4)),
        ("The Rusted Engines", "Velvet Static"),
        ("Highway Fever", "Amplifier Weather"),
    ),
    Style(
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

STYLES: tuple[str, ...] = tuple(s.name for s in STYLE_SPECS)
"""The style names; each is the ``genre`` tag of its pieces and the ground-truth label."""

# Masters: the electronic and rock styles are driven into soft clipping, the acoustic ones stay dynamic.
_MASTERS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "techno": saturate(2.0),
    "drum and bass": saturate(1.6),
    "rock": saturate(1.8),
    "lo-fi hip hop": saturate(1.2),
}


def render_piece(style: str, index: int, *, seed: int = 0, stereo: bool = False) -> np.ndarray:
    """Render piece ``index`` of ``style`` at ``SR`` Hz, peak-normalised to between -1 and -4 dBFS.

    Returns shape (n,) if mono, (n, 2) if stereo. Pure function of (seed, style, index).
    """
    si = STYLES.index(style)
    st = STYLE_SPECS[si]
    rng = np.random.default_rng([seed, si, index])
    duration = rng.uniform(20.0, 40.0)
    prog = list(st.progressions[int(rng.integers(len(st.progressions)))])
    rot = int(rng.integers(len(prog)))
    prog = prog[rot:] + prog[:rot]
    if len(prog) > 2 and rng.random() < 0.3:
        tail = prog[1:]
        rng.shuffle(tail)
        prog = prog[:1] + tail
    piece = Piece(
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
    mix = filt(mix.T, "highpass", 25).T  # no DC, no subsonic rumble
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
