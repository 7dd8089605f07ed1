"""Recognising recordings: accuracy, false matches, query latency, storage and scan cost of fingerprints.

    python bench/identify.py                         # the dev clips, then 10^3 and 10^4 tracks
    python bench/identify.py --scale 1000 --queries 40
    python bench/identify.py --parts folders --folder DIR --folder DIR2 --sparse 24   # any music, per folder
    python bench/identify.py --parts folders --folder DIR --background DIR3   # ... among other music

1. Accuracy. Every clip of ``--data`` (the 115 real clips of ../shared/data/dev) is fingerprinted with
   the scan's code and stored in a catalog; excerpts of 3, 5 and 10 s at a random place, with white noise
   at 20, 10, 5 and 0 dB SNR, resampled to 16 kHz and written as WAV, go through ``Library.identify``.
   Speed rows play 5-s excerpts (10 dB) 2% and 3% fast and slow; room rows play them through a room's
   reverberation (RT60 0.5 s, as much reverberant sound as direct: a phone a few metres away); the phone
   row also passes them through a phone's microphone (300 Hz .. 4 kHz).
2. False matches. A catalog holds every other clip, then a second one the other half; ``--repeats``
   excerpts of each clip left out, per length and SNR, must be answered "not in the collection".
3. Scale. The even clips plus synthetic fingerprints (hashes drawn from the real clips' hash
   frequencies, ``--track-seconds`` long) make catalogs of 10^3 and 10^4 tracks; 5-s 10-dB excerpts
   of catalogued and of left-out clips measure accuracy, false matches and query CPU time there, and
   the catalog's fingerprint pages give the storage per hour of audio.
4. Scan cost: CPU time of ``analyze`` on clips with and without ``fingerprint=True``.
5. Folders (``--folder DIR``, repeatable; ``--sparse N`` adds N generated quiet, sustained, reverberant
   pieces): each folder's audio files are catalogued alone and measured at 5 s, white noise at 10 dB,
   16 kHz, also in the room at 20 and 10 dB and through the phone. An answer naming another file that
   holds the same recording (a copy: the two tie) counts as identified, and as a "twin". Then half of them
   are catalogued and 5-s 10-dB excerpts of the other half must find nothing (one found in a file sharing
   a recording with it, by ``matcher.same_recording``, e.g. a remaster, or holding the excerpt's passage,
   e.g. a borrowed loop, counts as "shared", not false: ``shares_recording``).
   One row per folder: the dev clips alone say little about quiet, sustained or reverberant music, which
   has fewer stable spectral peaks. ``--background DIR`` (repeatable) catalogues every audio file under
   DIR (but the folder's own) beside each folder's files and half-folders: a folder of a few files alone
   is an easy library (a close runner-up, the commonest hashes skipped: both need other tracks).
   Beside the rates, how many excerpts were mostly silence (``mostly_silent``) and how many of those were
   missed, at 10 dB and in the room at 10 dB: one excerpt is 4-8 points of a folder of 6-11 files.

Times are CPU seconds (``time.process_time``), as the machine is shared. The last line is one JSON document.
"""

from __future__ import annotations

import argparse
import glob
import json
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
from scipy.signal import butter, fftconvolve, sosfilt

from synesthete import Library
from synesthete.analysis import analyze
from synesthete.audio import SR, decode, probe
from synesthete.audio.decode import AUDIO_EXTENSIONS
from synesthete.fingerprint import landmarks, matcher
from synesthete.fingerprint.landmarks import FRAME_SECONDS

ROOT = Path(__file__).resolve().parent.parent
SNRS = (20, 10, 5, 0)
FALSE_SNRS = (20, 10, 0)
ROOM_RT60 = 0.5  # seconds: a living room
PHONE = butter(4, (300, 4000), "bandpass", fs=SR, output="sos")  # a phone's microphone: no bass, no air
LENGTHS = (3, 5, 10)
QUERY_RATE = 16000


def add_track(lib: Library, path: str, duration: float, blob: bytes) -> int:
    """A catalog row and its fingerprint, without the rest of a scan (the vectors are not needed here)."""
    with lib.catalog.transaction() as c:
        track_id = c.execute(
            "INSERT INTO tracks (path, content_hash, size, mtime, duration, added_at, analysed_at)"
            " VALUES (?, ?, 0, 0, ?, 0, 0)",
            (path, path, duration),
        ).lastrowid
    lib.catalog.save_fingerprint(track_id, landmarks.VERSION, blob)
    return track_id


def bulk_filler(lib: Library, n: int, seconds: float, density: float, hashes: np.ndarray, rng) -> None:
    """``n`` synthetic tracks with fingerprints, as a scan would store them (in transactions of 500)."""
    for start in range(0, n, 500):
        blobs = synthetic_blobs(hashes, min(500, n - start), seconds, density, rng)
        with lib.catalog.transaction() as c:
            for i, blob in enumerate(blobs, start):
                track_id = c.execute(
                    "INSERT INTO tracks (path, content_hash, size, mtime, duration, added_at, analysed_at)"
                    " VALUES (?, ?, 0, 0, ?, 0, 0)",
                    (f"/synthetic/{i}.flac", f"synthetic{i}", seconds),
                ).lastrowid
                lib.catalog.save_fingerprint(track_id, landmarks.VERSION, blob)  # joins this transaction


def excerpt(y: np.ndarray, seconds: float, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """A non-silent excerpt (mean power above 1e-6) at a random place, and its start in seconds; the
    loudest one where none is (a track of long silences must not yield a silent query)."""
    n = int(seconds * SR)
    starts = np.arange(0, max(1, y.size - n), SR // 10)
    energy = np.concatenate([[0.0], np.cumsum(y.astype(np.float64) ** 2)])
    power = (energy[np.minimum(starts + n, y.size)] - energy[starts]) / n
    loud = np.flatnonzero(power > 1e-6)
    start = int(starts[rng.choice(loud)] if loud.size else starts[np.argmax(power)])
    start = min(start + int(rng.integers(0, SR // 10)), max(0, y.size - n))
    return y[start : start + n], start / SR


def mostly_silent(part: np.ndarray) -> bool:
    """Whether more than half of an excerpt's 100-ms windows are silence, below -60 dBFS mean power
    (``excerpt``'s bar for a non-silent excerpt): the noise, 10 dB under the excerpt's mean power, then
    leaves 2 s of music or less to recognise. Counted beside a folder's rates, never left out of them."""
    w = SR // 10
    n = max(1, part.size // w)
    power = np.mean(np.resize(part.astype(np.float64), n * w).reshape(n, w) ** 2, axis=1)
    return bool(np.mean(power < 1e-6) > 0.5)


def degrade(
    y: np.ndarray,
    snr_db: float,
    rng: np.random.Generator,
    speed: float = 1.0,
    room: bool = False,
    phone: bool = False,
) -> np.ndarray:
    """Played at ``speed`` (in a reverberant ``room``), white noise at ``snr_db``, recorded at 16 kHz
    (by a ``phone``'s microphone)."""
    if room:
        y = fftconvolve(y, room_response(rng))[: y.size].astype(np.float32)
    if phone:
        y = sosfilt(PHONE, y).astype(np.float32)
    noise = rng.standard_normal(y.size).astype(np.float32) * np.sqrt(np.mean(y**2) / 10 ** (snr_db / 10))
    return soxr.resample(y + noise, SR * speed, QUERY_RATE).astype(np.float32)


def room_response(rng: np.random.Generator, rt60: float = ROOM_RT60) -> np.ndarray:
    """A room's impulse response: the direct sound, then exponentially decaying noise (-60 dB at ``rt60``)
    carrying as much energy as the direct sound (a phone a few metres from the speaker)."""
    t = np.arange(int(rt60 * SR)) / SR
    tail = rng.standard_normal(t.size) * 10 ** (-3 * t / rt60)
    tail *= 1 / np.sqrt(np.sum(tail**2))
    tail[0] += 1.0
    return tail.astype(np.float32)


def ask(lib: Library, y: np.ndarray, tmp: Path, **options) -> tuple[object, float]:
    path = tmp / "query.wav"
    sf.write(path, y, QUERY_RATE)
    t0 = time.process_time()
    found = lib.identify(path, **options)
    return found, time.process_time() - t0


def names_source(found, source: str) -> bool:
    """Whether an answer names ``source``: as the track, or among the files holding the same recording
    (``same_recording``: a copy ties with its original, and either answer is right)."""
    return found is not None and source in (found.track.path, *(t.path for t in found.same_recording))


def fingerprint_bytes(lib: Library) -> int:
    """Bytes of the fingerprints: their catalog pages (from SQLite's dbstat) and the index files."""
    lib.landmarks.fold()
    lib.catalog.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn = sqlite3.connect(lib.catalog.path)
    rows = conn.execute(
        "SELECT sum(pgsize) FROM dbstat WHERE name = 'fingerprints'"
        " OR name LIKE 'sqlite_autoindex_fingerprints%'"
    ).fetchone()
    conn.close()
    return int(rows[0] or 0) + sum(f.stat().st_size for f in lib.landmarks.folder.iterdir())


def accuracy(lib: Library, clips: list, names: list[str], tmp: Path, rng, args) -> tuple[list, dict]:
    rows, cpu = [], []
    cases = [(snr, length, 1.0, False, False) for length in LENGTHS for snr in SNRS]
    cases += [(10, 5, s, False, False) for s in (0.97, 0.98, 1.02, 1.03)]
    cases += [(snr, 5, 1.0, True, False) for snr in (20, 10)]
    cases += [(10, 5, 1.0, True, True)]
    for snr, length, speed, room, phone in cases:
        hits = wrong = on_time = 0
        for name, y in zip(names, clips, strict=True):
            part, start = excerpt(y, length * speed, rng)
            found, seconds = ask(lib, degrade(part, snr, rng, speed, room, phone), tmp)
            cpu.append(seconds)
            if found is None:
                continue
            if names_source(found, name):
                hits += 1
                on_time += abs(found.offset_s - start) < 0.5  # loops repeat: another offset may fit too
            else:
                wrong += 1
        n = len(clips)
        rows.append(
            {
                "snr_db": snr,
                "seconds": length,
                "speed": speed,
                "room": room,
                "phone": phone,
                "identified": hits / n,
                "offset_within_0.5s": on_time / n,
                "wrong_track": wrong / n,
                "n": n,
            }
        )
        print(
            f"  {length:>2} s  {snr:>2} dB  speed {speed:.2f}{'  room' if room else ''}{'  phone' if phone else ''}: {hits / n:6.1%} identified"
            f" ({on_time / n:.1%} at the right offset), {wrong / n:5.1%} wrong track",
            file=sys.stderr,
        )
    return rows, {"median_cpu_ms": 1000 * float(np.median(cpu))}


def false_matches(lib: Library, clips: list, tmp: Path, rng, length: float, snr: float, repeats: int) -> int:
    """How many of ``repeats`` excerpts of each clip (none of them catalogued) found a track."""
    n = 0
    for y in clips:
        for _ in range(repeats):
            part, _ = excerpt(y, length, rng)
            n += ask(lib, degrade(part, snr, rng), tmp)[0] is not None
    return n


def synthetic_blobs(hashes: np.ndarray, n: int, seconds: float, density: float, rng) -> list[bytes]:
    """``n`` fingerprints whose hashes follow the real ones.

    The anchor frequency is drawn from the real anchors and the (frequency step, time step) pair from
    the real pairs, independently: drawing whole real hashes would reuse the dev clips' ~10^5 distinct
    hashes and overstate collisions.
    """
    per_track = int(seconds * density)
    anchors, steps = hashes >> 13, hashes & 0x1FFF
    out = []
    for _ in range(n):
        h = (anchors[rng.integers(0, hashes.size, per_track)] << 13) | steps[
            rng.integers(0, hashes.size, per_track)
        ]
        t = np.sort(rng.integers(0, int(seconds / FRAME_SECONDS), per_track)).astype(np.uint32)
        out.append(landmarks.pack(h.astype(np.uint32), t))
    return out


def scale(size: int, kept: dict, left_out: list, real_hashes: np.ndarray, density: float, tmp: Path, args):
    folder = tmp / f"scale{size}"
    rng = np.random.default_rng(size)
    with Library(folder) as lib:
        for name, (duration, blob, _) in kept.items():
            add_track(lib, name, duration, blob)
        filler = size - len(kept)
        bulk_filler(lib, filler, args.track_seconds, density, real_hashes, rng)
        hours = (len(kept) * 30.0 + filler * args.track_seconds) / 3600
        t0 = time.process_time()
        lib.landmarks.fold(compact=True)
        index_cpu_s = time.process_time() - t0
        mb_per_hour = fingerprint_bytes(lib) / 1e6 / hours
        # What a scan pays to add one more track to an index this big (CPU, and pages written to the WAL).
        extra = synthetic_blobs(real_hashes, 10, args.track_seconds, density, rng)
        written = _written_bytes()
        t0 = time.process_time()
        for i, blob in enumerate(extra):  # as a scan of one new file would: commit, then fold
            add_track(lib, f"/synthetic/extra{i}.flac", args.track_seconds, blob)
            lib.landmarks.fold()
        add_cpu_ms = 1000 * (time.process_time() - t0) / len(extra)
        written_mb = (_written_bytes() - written) / 1e6 / len(extra)
        names = list(kept)[: args.queries]
        hits, cpu = 0, []  # catalogued queries
        for name in names:
            part, _ = excerpt(kept[name][2], 5.0, rng)
            found, seconds = ask(lib, degrade(part, 10, rng), tmp)
            cpu.append(seconds)
            hits += names_source(found, name)
        false, cpu_out, cpu_exact = 0, [], []
        for y in left_out[: args.queries]:
            part, _ = excerpt(y, 5.0, rng)
            found, seconds = ask(lib, degrade(part, 10, rng), tmp)
            cpu_out.append(seconds)
            false += found is not None
            cpu_exact.append(ask(lib, degrade(part, 10, rng), tmp, max_speed_change=0.0)[1])
    return {
        "tracks": size,
        "hours": round(hours, 1),
        "mb_per_hour": round(mb_per_hour, 2),
        "identified_5s_10db": hits / len(names),
        "false_match_rate": false / min(len(left_out), args.queries),
        "query_cpu_ms_median": round(1000 * float(np.median(cpu)), 1),
        "query_cpu_ms_p95": round(1000 * float(np.percentile(cpu, 95)), 1),
        "uncatalogued_query_cpu_ms_median": round(1000 * float(np.median(cpu_out)), 1),
        "uncatalogued_query_cpu_ms_p90": round(1000 * float(np.percentile(cpu_out, 90)), 1),
        "uncatalogued_query_cpu_ms_p95": round(1000 * float(np.percentile(cpu_out, 95)), 1),
        "no_speed_search_query_cpu_ms_median": round(1000 * float(np.median(cpu_exact)), 1),
        "index_build_cpu_s": round(index_cpu_s, 1),
        "add_track_cpu_ms": round(add_cpu_ms, 1),
        "add_track_written_mb": round(written_mb, 2),
    }


def _written_bytes() -> int:
    """Bytes this process has written (catalog, WAL and index files), from /proc/self/io."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    return 0


def scan_cost(paths: list[str]) -> dict:
    analyze(paths[0], fingerprint=True)  # warm up (numba, caches)
    base = with_fp = 0.0
    for p in paths:
        for fingerprint in (False, True, True, False):
            t0 = time.process_time()
            analyze(p, fingerprint=fingerprint)
            dt = time.process_time() - t0
            if fingerprint:
                with_fp += dt
            else:
                base += dt
    clips = [decode(p) for p in paths]
    from synesthete.features.base import Spectra

    powers = [Spectra(y).stft_power for y in clips]
    t0 = time.process_time()
    for p in powers:
        landmarks.landmarks(p)
    own = (time.process_time() - t0) / sum(y.size / SR for y in clips) * 30
    return {
        "analysis_cpu_s_per_30s": round(base / 2 / len(paths), 4),
        "with_fingerprint_cpu_s_per_30s": round(with_fp / 2 / len(paths), 4),
        "added_percent": round(100 * (with_fp - base) / base, 1),
        "fingerprint_only_cpu_s_per_30s": round(own, 4),
    }


def sparse_piece(seed: int, seconds: float = 40.0) -> np.ndarray:
    """Quiet, sustained, reverberant music: slow string-like chords with soft attacks, a few long melody
    notes, dark (few harmonics), in a hall (RT60 2.5 s): few onsets, few stable peaks."""
    rng = np.random.default_rng([13, seed])
    n = int(seconds * SR)
    y = np.zeros(n)
    scale = np.array([0, 2, 3, 5, 7, 8, 10]) + int(rng.integers(45, 57))

    def note(midi: float, start: float, length: float, attack: float, level: float, harmonics: int) -> None:
        i, m = int(start * SR), int(length * SR)
        t = np.arange(min(m, n - i)) / SR
        f = 440.0 * 2 ** ((midi - 69) / 12) * (1 + 0.003 * np.sin(2 * np.pi * rng.uniform(4.5, 6) * t))
        phase = 2 * np.pi * np.cumsum(f) / SR
        tone = sum(np.sin(k * phase) / k**2 for k in range(1, harmonics + 1))
        env = np.minimum(1, t / attack) * np.minimum(1, (length - t) / 1.0).clip(0)
        y[i : i + t.size] += level * tone * env

    start = 0.0
    while start < seconds:  # chords of three voices every 4-8 s, overlapping by a second
        length = rng.uniform(4, 8)
        for degree in rng.choice(7, 3, replace=False):
            octave = 12 * int(rng.integers(-1, 2))
            note(scale[degree] + octave, start, length + 1, rng.uniform(0.5, 1.5), rng.uniform(0.1, 0.3), 6)
        start += length
    start = rng.uniform(1, 4)
    while start < seconds:  # a sparse melody: a long soft note every few seconds
        length = rng.uniform(1, 3)
        note(scale[rng.integers(7)] + 12, start, length, rng.uniform(0.1, 0.4), rng.uniform(0.1, 0.25), 3)
        start += length + rng.uniform(0.5, 3)
    y *= 0.7 + 0.3 * np.sin(2 * np.pi * np.arange(n) / SR / rng.uniform(10, 20))  # slow swells
    t = np.arange(int(2.5 * SR)) / SR
    hall = rng.standard_normal(t.size) * 10 ** (-3 * t / 2.5)
    hall *= 2 / np.sqrt(np.sum(hall**2))
    hall[0] += 1.0
    y = fftconvolve(y, hall)[:n]
    return (0.1 * y / np.max(np.abs(y))).astype(np.float32)


def write_sparse(folder: Path, count: int, first: int = 0) -> Path:
    """``count`` generated ``sparse_piece``s (seeds ``first`` ..) as FLAC files in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for seed in range(first, first + count):
        sf.write(folder / f"sparse{seed:03d}.flac", sparse_piece(seed), SR)
    return folder


MIN_FILE_SECONDS = 6.0  # a 5-s excerpt needs a little more


def audio_files(folder: str | Path, limit: int, min_seconds: float = 0.0) -> list[str]:
    """Up to ``limit`` audio files under ``folder`` of at least ``min_seconds`` by their headers (or that
    cannot be probed: measuring says why), spread over its sorted listing. Short files are left out before
    spreading, so a folder of ringtones and jingles gives ``limit`` files too, not fewer."""
    paths = sorted(str(p) for p in Path(folder).rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS)
    if min_seconds:
        paths = [p for p in paths if _seconds(p) >= min_seconds]
    return paths[:: max(1, -(-len(paths) // limit))] if limit else paths


def _seconds(path: str) -> float:
    """The header's duration, or infinity when there is none or the file cannot be probed."""
    try:
        return probe(path).duration or float("inf")
    except Exception:  # a bad file in someone's folder: measure_folder says so
        return float("inf")


def shares_recording(a: bytes, b: bytes, passage: tuple[float, float] | None = None) -> bool:
    """Whether two files hold the same recording over at least a passage: a folder's "uncatalogued"
    excerpt found in such a twin was recognised, not mistaken. Over the whole files, 20 aligned hashes and
    1% of the shorter (a remaster, a track built from another's parts); or, given the excerpt's
    ``passage`` of ``a`` (start and length in seconds), ``matcher.TWIN_VOTES`` of its own stored hashes
    aligned with ``b`` at one offset: a loop that ``a`` repeats at many places aligns too few hashes at any
    one offset of the whole files (chance aligns 1-3 of a 5-s passage's ~450)."""
    mine, other = landmarks.unpack(a), landmarks.unpack(b)
    if matcher.same_recording({0: mine, 1: other}, min_share=0.01):
        return True
    if passage is None:
        return False
    start, length = round(passage[0] / FRAME_SECONDS), round(passage[1] / FRAME_SECONDS)
    inside = (mine[1] >= start) & (mine[1] < start + length)
    here = (mine[0][inside], mine[1][inside])
    return bool(matcher.same_recording({0: here, 1: other}, min_votes=matcher.TWIN_VOTES, min_share=0.0))


def fingerprint_files(paths: list[str]) -> list[tuple[str, float, bytes]]:
    """(path, duration, fingerprint) of each of ``paths`` that can be analysed (the others are said)."""
    out = []
    for p in paths:
        try:
            a = analyze(p, [], fingerprint=True)
        except Exception as e:  # a bad file in someone's folder: say so, use the rest
            print(f"  skipped {p}: {e}", file=sys.stderr)
            continue
        out.append((p, a.duration, landmarks.pack(*a.landmarks)))
    return out


def measure_folder(
    folder: str | Path, tmp: Path, rng: np.random.Generator, args, background: tuple = ()
) -> dict:
    """Identified (5 s, 10 dB; room 20 and 10 dB; phone) with every file catalogued, and false matches with half
    of them catalogued and excerpts of the other half, ``--per-file`` excerpts per file and condition.
    ``background``: (path, duration, fingerprint) of other tracks catalogued beside them (the folder's own
    files left out)."""
    paths = audio_files(folder, args.max_files, MIN_FILE_SECONDS)
    inside = Path(folder).resolve()
    background = tuple(b for b in background if inside not in Path(b[0]).resolve().parents)
    others = {p: b for p, _, b in background}
    clips, blobs, durations, names, failed = [], [], [], [], 0
    for p in paths:
        try:
            a = analyze(p, [], fingerprint=True)
            y = decode(p)
        except Exception as e:  # a bad file in someone's folder: say so, measure the rest
            print(f"  skipped {p}: {e}", file=sys.stderr)
            failed += 1
            continue
        if y.size < MIN_FILE_SECONDS * SR:
            continue
        clips.append(y)
        blobs.append(landmarks.pack(*a.landmarks))
        durations.append(a.duration)
        names.append(p)
    row: dict = {"folder": str(folder), "files": len(names), "skipped": failed, "background": len(background)}
    if len(names) < 4:
        return row
    lib_folder = tmp / f"folder{abs(hash(str(folder)))}"
    fingerprint_of = {**others, **dict(zip(names, blobs, strict=True))}
    with Library(lib_folder) as lib:
        for p, d, b in (*zip(names, durations, blobs, strict=True), *background):
            add_track(lib, p, d, b)
        for key, snr, room, phone in (
            ("identified_5s_10db", 10, False, False),
            ("room_20db", 20, True, False),
            ("room_10db", 10, True, False),
            ("phone_10db", 10, True, True),
        ):
            hits = twin = wrong = silent = silent_missed = 0
            for i, y in list(enumerate(clips)) * args.per_file:
                part, at = excerpt(y, 5.0, rng)
                found, _ = ask(lib, degrade(part, snr, rng, room=room, phone=phone), tmp)
                quiet = mostly_silent(part)
                silent += quiet
                if found is None:
                    silent_missed += quiet
                    continue
                answer = fingerprint_of[found.track.path]
                if found.track.path == names[i]:
                    hits += 1
                elif names_source(found, names[i]) or shares_recording(blobs[i], answer, (at, 5.0)):
                    twin += 1  # another file of the same recording named, the source listed as its twin
                else:
                    wrong += 1
                    silent_missed += quiet
            row[key] = (hits + twin) / (len(names) * args.per_file)
            row[f"twin_{key}"] = twin / (len(names) * args.per_file)
            row[f"wrong_{key}"] = wrong / (len(names) * args.per_file)
            row[f"silent_{key}"], row[f"silent_missed_{key}"] = silent, silent_missed
    shutil.rmtree(lib_folder, ignore_errors=True)
    false = shared = 0
    for half in (0, 1):
        with Library(lib_folder) as lib:
            for i, (p, d, b) in enumerate(zip(names, durations, blobs, strict=True)):
                if i % 2 == half:
                    add_track(lib, p, d, b)
            for p, d, b in background:
                add_track(lib, p, d, b)
            for i, y in enumerate(clips):
                for _ in range(args.per_file if i % 2 != half else 0):
                    part, at = excerpt(y, 5.0, rng)
                    found = ask(lib, degrade(part, 10, rng), tmp)[0]
                    answer = None if found is None else fingerprint_of[found.track.path]
                    if answer is not None and shares_recording(blobs[i], answer, (at, 5.0)):
                        shared += 1  # a remaster or a track built from another's parts: not a false match
                    elif answer is not None:
                        false += 1
        shutil.rmtree(lib_folder, ignore_errors=True)
    row["false_match_rate"] = false / (len(names) * args.per_file)
    row["shared_recording_rate"] = shared / (len(names) * args.per_file)
    row["queries"] = len(names) * args.per_file
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "dev"))
    parser.add_argument("--scale", default="1000,10000", help="catalog sizes for latency and storage")
    parser.add_argument("--track-seconds", type=float, default=240.0, help="length of synthetic tracks")
    parser.add_argument("--queries", type=int, default=40, help="queries of each kind at each scale")
    parser.add_argument("--scan-clips", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3, help="uncatalogued excerpts per clip and condition")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--parts", default="accuracy,false,scale,scan", help="which parts to run (and folders)"
    )
    parser.add_argument(
        "--folder", action="append", default=[], help="a folder of audio to measure (repeatable)"
    )
    parser.add_argument(
        "--sparse",
        type=int,
        default=0,
        help="also measure this many generated sparse pieces (seeds from --seed)",
    )
    parser.add_argument(
        "--background",
        action="append",
        default=[],
        help="catalogue every audio file under this folder beside each measured folder (repeatable)",
    )
    parser.add_argument("--max-files", type=int, default=60, help="files measured per folder (0: all)")
    parser.add_argument("--per-file", type=int, default=2, help="excerpts per file and condition in folders")
    args = parser.parse_args()
    paths = sorted(glob.glob(f"{args.data}/audio/**/*.*", recursive=True))
    dev_parts = set(args.parts.split(",")) - {"folders"}
    if dev_parts and not paths:
        raise SystemExit(f"no clips under {args.data}/audio")
    for d in args.background:  # a mistyped folder would measure "among other music" with none
        if not audio_files(d, 1):
            raise SystemExit(f"--background {d}: no audio files there")
    rng = np.random.default_rng(args.seed)
    tmp = Path(tempfile.mkdtemp(prefix="bench-identify-"))  # ~2 GB at 10^4 tracks: removed at the end
    try:
        folders = list(args.folder)
        if args.sparse:
            folders.append(write_sparse(tmp / "generated-sparse", args.sparse, first=args.seed))
        background = tuple(fingerprint_files([p for d in args.background for p in audio_files(d, 0)]))
        rows = []
        for folder in folders:
            print(f"folder {folder}", file=sys.stderr)
            rows.append(measure_folder(folder, tmp, rng, args, background))
        out = run(args, paths, rng, tmp) if dev_parts else {}
        out["folders"] = rows
        print_folders(rows)
        print(json.dumps(out))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def print_folders(rows: list[dict]) -> None:
    if not rows:
        return
    print(
        "\nper folder (5 s excerpts, white noise, 16 kHz; room: RT60 0.5 s; phone: in the room, 300 Hz-4 kHz);"
        "\nidentified = the excerpt's file named, or another file holding the same recording (named with"
        " the source in its same_recording list, or sharing its fingerprint); 'twin' = those at 10 dB:"
    )
    if any(r.get("background") for r in rows):
        print(
            "catalogued beside "
            + ", ".join(f"{r['background']}" for r in rows)
            + " other tracks (--background)"
        )
    print(
        "silent = excerpts mostly silence (over half their 100-ms windows under -60 dBFS; counted in the"
        " rates), at 10 dB and in the room at 10 dB: missed/all"
    )
    print(
        f"{'folder':<40} {'files':>5} {'10 dB':>7} {'twin':>6} {'room 20':>8} {'room 10':>8} {'phone 10':>8}"
        f" {'false':>7} {'shared':>7} {'queries':>7} {'silent':>11}"
    )
    for r in rows:
        if "false_match_rate" not in r:
            print(f"{str(r['folder'])[-40:]:<40} {r['files']:>5}  (too few files)")
            continue
        print(
            f"{str(r['folder'])[-40:]:<40} {r['files']:>5} {r['identified_5s_10db']:>7.1%}"
            f" {r['twin_identified_5s_10db']:>6.1%} {r['room_20db']:>8.1%}"
            f" {r['room_10db']:>8.1%} {r['phone_10db']:>8.1%} {r['false_match_rate']:>7.2%}"
            f" {r['shared_recording_rate']:>7.2%} {r['queries']:>7}"
            f" {_silent(r, 'identified_5s_10db'):>5} {_silent(r, 'room_10db'):>5}"
        )


def _silent(row: dict, key: str) -> str:
    """Missed/all of a condition's excerpts that are mostly silence (``mostly_silent``)."""
    return f"{row[f'silent_missed_{key}']}/{row[f'silent_{key}']}"


def run(args: argparse.Namespace, paths: list[str], rng: np.random.Generator, tmp: Path) -> dict:
    print(f"fingerprinting {len(paths)} clips", file=sys.stderr)
    clips, blobs, durations = [], [], []
    for p in paths:
        a = analyze(p, [], fingerprint=True)
        clips.append(decode(p))
        blobs.append(landmarks.pack(*a.landmarks))
        durations.append(a.duration)
    real_hashes = np.concatenate([landmarks.unpack(b)[0] for b in blobs])
    density = real_hashes.size / sum(durations)
    out: dict = {"clips": len(paths), "landmarks_per_second": round(density, 1)}

    parts = set(args.parts.split(","))
    out["accuracy"], out["false_match_rate"], out["scale"], out["scan"] = [], {}, [], {}
    print("accuracy (every clip catalogued)", file=sys.stderr)
    with Library(tmp / "full") as lib:
        for p, d, b in zip(paths, durations, blobs, strict=True):
            add_track(lib, p, d, b)
        if "accuracy" in parts:
            out["accuracy"], lat = accuracy(lib, clips, paths, tmp, rng, args)
            out["query_cpu_ms_dev"] = round(lat["median_cpu_ms"], 1)
        out["mb_per_hour_dev"] = round(fingerprint_bytes(lib) / 1e6 / (sum(durations) / 3600), 2)

    print("false matches (half the clips catalogued, then the other half)", file=sys.stderr)
    even = {
        p: (d, b, y)
        for i, (p, d, b, y) in enumerate(zip(paths, durations, blobs, clips, strict=True))
        if i % 2 == 0
    }
    odd = [y for i, y in enumerate(clips) if i % 2 == 1]
    false = {f"{length}s_{snr}db": 0 for length in LENGTHS for snr in FALSE_SNRS}
    for half in (0, 1) if "false" in parts else ():
        with Library(tmp / f"half{half}") as lib:
            for i, (p, d, b) in enumerate(zip(paths, durations, blobs, strict=True)):
                if i % 2 == half:
                    add_track(lib, p, d, b)
            others = [y for i, y in enumerate(clips) if i % 2 != half]
            for length in LENGTHS:
                for snr in FALSE_SNRS:
                    false[f"{length}s_{snr}db"] += false_matches(
                        lib, others, tmp, rng, length, snr, args.repeats
                    )
    out["false_match_queries"] = len(clips) * args.repeats
    out["false_match_rate"] = (
        {k: v / out["false_match_queries"] for k, v in false.items()} if "false" in parts else {}
    )

    for size in [int(s) for s in args.scale.split(",") if s and "scale" in parts]:
        print(f"scale: {size} tracks", file=sys.stderr)
        out["scale"].append(scale(size, even, odd, real_hashes, density, tmp, args))

    if "scan" in parts:
        print("scan cost", file=sys.stderr)
        out["scan"] = scan_cost(paths[:: max(1, len(paths) // args.scan_clips)][: args.scan_clips])

    print("\nidentified (5 s unless said; white noise; 16 kHz):")
    print(f"{'excerpt':>8} " + " ".join(f"{s:>6} dB" for s in SNRS))
    for length in LENGTHS if out["accuracy"] else ():
        row = {
            r["snr_db"]: r["identified"]
            for r in out["accuracy"]
            if r["seconds"] == length and r["speed"] == 1 and not r["room"]
        }
        print(f"{length:>6} s " + " ".join(f"{row[s]:>9.1%}" for s in SNRS))
    for r in out["accuracy"]:
        if r["speed"] != 1:
            print(f"  speed {r['speed']:.2f}, 5 s, 10 dB: {r['identified']:.1%} identified")
        if r["room"]:
            phone = ", through a phone (300 Hz-4 kHz)" if r["phone"] else ""
            print(
                f"  in a room (RT60 {ROOM_RT60} s){phone}, 5 s, {r['snr_db']} dB: {r['identified']:.1%} identified"
            )
    if out["false_match_rate"]:
        print(f"false matches on uncatalogued excerpts ({out['false_match_queries']} per condition):")
        for key, rate in out["false_match_rate"].items():
            print(f"  {key}: {rate:.2%}")
    print(
        f"storage: {out['mb_per_hour_dev']} MB per hour (dev clips), {out['landmarks_per_second']} landmarks/s"
    )
    for s in out["scale"]:
        print(
            f"{s['tracks']:>6} tracks ({s['hours']} h): query CPU {s['query_cpu_ms_median']} ms median"
            f" (catalogued), {s['uncatalogued_query_cpu_ms_median']} ms median /"
            f" {s['uncatalogued_query_cpu_ms_p90']} ms p90 / {s['uncatalogued_query_cpu_ms_p95']} ms p95"
            " (uncatalogued: all 13 speeds),"
            f" {s['no_speed_search_query_cpu_ms_median']} ms without speed search;"
            f" {s['mb_per_hour']} MB/h, index built in {s['index_build_cpu_s']} CPU-s; identified {s['identified_5s_10db']:.0%},"
            f" false {s['false_match_rate']:.0%}; adding a track: {s['add_track_cpu_ms']} ms CPU,"
            f" {s['add_track_written_mb']} MB written"
        )
    sc = out["scan"]
    print(
        ""
        if not sc
        else f"scan: {sc['analysis_cpu_s_per_30s']} -> {sc['with_fingerprint_cpu_s_per_30s']} CPU-s per 30 s"
        f" (+{sc['added_percent']}%); fingerprinting alone {sc['fingerprint_only_cpu_s_per_30s']} CPU-s per 30 s"
    )
    return out


if __name__ == "__main__":
    main()
