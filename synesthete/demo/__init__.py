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

The package is split by what it holds: ``synth`` (oscillators, envelopes, filters, effects, drums),
``styles`` (the eight styles and ``render_piece``) and ``collection`` (the files, formats and tags).
"""

from synesthete.demo.collection import (
    DEMO_FOLDER,
    FORMATS,
    demo_paths,
    ensure_demo_audio,
    generate_demo,
    slug,
)
from synesthete.demo.styles import STYLES, render_piece
from synesthete.demo.synth import SR

__all__ = [
    "DEMO_FOLDER",
    "FORMATS",
    "SR",
    "STYLES",
    "demo_paths",
    "ensure_demo_audio",
    "generate_demo",
    "render_piece",
    "slug",
]
