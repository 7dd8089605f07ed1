#!/usr/bin/env bash
# corpus.sh -- build the student's training corpus: full-length music from Debian game and music data
# packages (free licences), fetched with `apt-get download` (never installed), decoded once to mono
# 22,050-Hz FLAC. No audio enters the repository: everything goes to $CORPUS (default /work/corpus).
#
# The packages that ../shared/data/dev is built from (see its build_dev.sh) are refused, so the dev
# figures stay held out. Tracker modules (.mod/.xm/.it/.s3m) render through ffmpeg's libopenmpt; MIDI
# files (.mid/.midi/.kar, and the MIDI music lumps of Doom WADs) through fluidsynth with Debian's free
# General-MIDI soundfont (packages fluidsynth and fluid-soundfont-gm, installed when missing, like ffmpeg).
# A MIDI file beside a recording of the same name, a Frets on Fire note chart (notes.mid), or a render
# identical to an earlier one (the FLAC's audio MD5) is skipped.
# Files under MIN_SECONDS (sound effects, jingles) and ambience/voice folders are skipped; identical
# files are kept once; a tracker module is a composition, so effect folders do not exclude it.
#
# Output: $CORPUS/audio/<package>/<n>.flac and $CORPUS/manifest.csv
#   (package, version, licence, source file, seconds, path, kind). kind is recorded (an audio file),
#   module (a tracker module) or midi (a rendered MIDI file), so a training run can take or leave renders;
#   manifest-recorded.csv holds the recorded tracks only, manifest-nomidi.csv all but the MIDI renders.
#   manifest.csv is first written right after the durations are read (seconds, in one process), with
#   the originals synesthete.audio.decode reads, which is all the teacher's cache needs (python -m
#   synesthete.models.train can start then), and again after the slow FLAC pass with every track,
#   tracker modules and MIDI files included (rendered only as FLAC).
# On bookworm (FLACS=0, 162 packages asked for): 1,223 tracks, 56.9 h, from 127 packages: recorded 810
#   (40.6 h, 82 packages), tracker modules 184 (7.4 h, 38), MIDI renders 229 (8.8 h, 9). Debian main holds
#   little more music as files (see README.md's corpus paragraph): 2,000 is not reached from it alone.
# Usage: bash bench/corpus.sh            (JOBS, MIN_SECONDS, PACKAGES, KEEP_WORK, FLACS override;
#   FLACS=0 decodes only the tracker modules and MIDI files, the FLACs the teacher's cache reads)
set -euo pipefail
CORPUS=${CORPUS:-/work/corpus}
WORK=${WORK:-$CORPUS/.work}
MIN_SECONDS=${MIN_SECONDS:-30}
JOBS=${JOBS:-2}
KEEP_WORK=${KEEP_WORK:-1}
FLACS=${FLACS:-1}  # 0: decode to FLAC only the tracker modules and MIDI files (the teacher reads the originals)
SOUNDFONT=${SOUNDFONT:-/usr/share/sounds/sf2/FluidR3_GM.sf2}  # fluid-soundfont-gm: MIT licence
export DEBIAN_FRONTEND=noninteractive
log() { printf '[corpus] %s\n' "$*" >&2; }

# the issue's list, then other Debian game/music data packages that ship music
PACKAGES=${PACKAGES:-"0ad-data extremetuxracer-data neverball-data frozen-bubble-data fb-music-high
chromium-bsu-data megaglest-data redeclipse-data warmux-data lincity-ng-data xmoto-data openclonk-data
freeorion-data holotz-castle-data alienblaster-data kobodeluxe-data asc-music boswars-data
colobot-common-sounds fillets-ng-data fretsonfire-songs-muldjord fretsonfire-songs-sectoid nexuiz-music
pushover-data tecnoballz-data tomatoes-data ufoai-music wesnoth-1.16-music xblast-tnt-musics
garden-of-coloured-lights-data supertuxkart-data supertux-data hedgewars-data widelands-data
freedroidrpg-data warzone2100-music starfighter-data blobwars-data lugaru-data flare-game pingus-data
openarena-data btanks-data scorched3d-data unknown-horizons powermanga-data alex4-data kraptor-data
trigger-rally-data dreamchess-data enigma-data ri-li-data lordsawar-data freeciv-data pinball-data
pokerth-data mirrormagic-data tuxtype-data gcompris-qt-data hex-a-hop-data opencity-data
stormbaancoureur-data ceferino-data cube2-data solarwolf circuslinux-data penguin-command caveexpress-data
blockattack berusky-data briquolo-data gnurobbo-data njam-data sdl-ball-data lbreakouthd-data funnyboat
whichwayisup pangzero mrrescue bomberclone-data spacezero tuxfootball freedink-data lbreakout2-data
pathological netpanzer-data open-invaders-data
adonthell-data amoebax-data angrydd ardentryst ballz-data bb berusky2-data biniax2-data blockout2
brainparty-data criticalmass-data csmash-demosong cuyo-data davegnukem-data dodgindiamond2
flobopuyo freecol freedroid-data gemdropx gigalomania-data gl-117-data glob2-data gltron gweled hannah-data
heroes-sound-tracks hyperrogue-music instead-data ironseed-data madbomber-data miceamaze monsterz-data
naev-data neverball-common openarena-088-data orbital-eunuchs-sniper-data pachi-data pathogen
pax-britannica-data pekka-kana-2-data performous phlipple-data photofilmstrip pinball-table-gnu-data
pink-pony-data planetblupi-music-ogg plee-the-bear-data rafkill-data raincat-data
renpy-demo rockdodger seahorse-adventures searchandrescue-data singularity-music toppler trackballs-data
tuxmath-data vectoroids vodovod vonsh vor wizznic-data wordwarvi-sound zaz-data
freedoom simutrans-data openttd-openmsx mma pianobooster songwrite faust-common liquidwar-data crimson
pinball-table-hurd-data playmidi"}  # the last line: packages whose music is MIDI (freedoom: in its WADs)
# ../shared/data/dev's sources and its composers' other packages: never part of the corpus
DEV_PACKAGES="drascula-music marsshooter-data parsec47-data rrootage-data torus-trooper-data
tumiki-fighters-data gunroar-data mu-cade-data titanion-data
a7xpg-data noiz2sa-data val-and-rick-data"  # Kenta Cho's other games: the composer of dev's abagames group

command -v ffmpeg >/dev/null || apt-get install -y -q --no-install-recommends ffmpeg >&2
command -v fluidsynth >/dev/null || apt-get install -y -q --no-install-recommends fluidsynth >&2
[ -f "$SOUNDFONT" ] || apt-get install -y -q --no-install-recommends fluid-soundfont-gm >&2
[ -f "$SOUNDFONT" ] || { log "missing $SOUNDFONT"; exit 1; }
for t in ffmpeg ffprobe fluidsynth python3 dpkg-deb; do command -v $t >/dev/null || { log "missing $t"; exit 1; }; done
for p in $PACKAGES; do
  for d in $DEV_PACKAGES; do [ "$p" != "$d" ] || { log "refusing $p: a source of ../shared/data/dev"; exit 1; }; done
done

mkdir -p "$WORK/debs" "$WORK/x" "$CORPUS/audio"
chmod 777 "$WORK/debs" 2>/dev/null || true
missing=()
for p in $PACKAGES; do ls "$WORK/debs/${p}_"*.deb >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  apt-cache show "${missing[0]}" >/dev/null 2>&1 || apt-get update -qq
  for p in "${missing[@]}"; do  # one at a time: a package missing from this release is skipped
    (cd "$WORK/debs" && nice -n 10 apt-get download -q "$p" 2>&1 | grep -vE 'unsandboxed|^Get:|^Fetched' >&2) || true
    ls "$WORK/debs/${p}_"*.deb >/dev/null 2>&1 || log "skipped $p: not in this release"
  done
fi

# extract only audio, archives that may hold audio, and the copyright file
PATTERNS=() MIDI_PATTERNS=()
for e in ogg oga mp3 flac wav opus mod xm it s3m zip pk3; do PATTERNS+=("*.$e" "*.${e^^}"); done
for e in mid midi kar wad; do MIDI_PATTERNS+=("*.$e" "*.${e^^}"); done
# a Doom WAD's music lumps (D_*) that are MIDI files, as <wad>.d/<lump>.mid (MUS lumps are left out)
unwad() { nice -n 10 python3 -c '
import struct, sys
data = open(sys.argv[1], "rb").read()
kind, n, table = struct.unpack("<4sii", data[:12])
for i in range(n if kind in (b"IWAD", b"PWAD") else 0):
    pos, size, name = struct.unpack("<ii8s", data[table + 16 * i : table + 16 * i + 16])
    name = name.rstrip(b"\0").decode("ascii", "replace")
    if name.startswith("D_") and data[pos : pos + 4] == b"MThd" and name.replace("_", "").isalnum():
        open(name + ".mid", "wb").write(data[pos : pos + size])
' "$1"; }
for deb in "$WORK"/debs/*.deb; do
  p=$(dpkg-deb -f "$deb" Package)
  case " $PACKAGES " in *[[:space:]]"$p"[[:space:]]*) ;; *) continue ;; esac
  if [ -f "$WORK/x/$p/.done" ] && [ ! -f "$WORK/x/$p/.midi" ]; then
    # extracted before MIDI was taken: add its MIDI files, nothing else changes
    dpkg-deb --fsys-tarfile "$deb" | nice -n 10 tar -x -C "$WORK/x/$p" --wildcards "${MIDI_PATTERNS[@]}" 2>/dev/null || true
    find "$WORK/x/$p" -iname '*.wad' -print0 | while IFS= read -r -d '' z; do
      mkdir -p "$z.d" && (cd "$z.d" && unwad "$z") || log "unreadable WAD $z"; rm -f "$z"
    done
    touch "$WORK/x/$p/.midi"
  fi
  [ -f "$WORK/x/$p/.done" ] && continue
  rm -rf "$WORK/x/$p"; mkdir -p "$WORK/x/$p"
  dpkg-deb --fsys-tarfile "$deb" | nice -n 10 tar -x -C "$WORK/x/$p" --wildcards "${PATTERNS[@]}" "${MIDI_PATTERNS[@]}" '*/copyright' 2>/dev/null || true
  find "$WORK/x/$p" -iname '*.wad' -print0 | while IFS= read -r -d '' z; do
    mkdir -p "$z.d" && (cd "$z.d" && unwad "$z") || log "unreadable WAD $z"; rm -f "$z"
  done
  # archives (0 A.D.'s mods, Quake-style .pk3) may hold the music: unpack their audio beside them
  find "$WORK/x/$p" \( -iname '*.zip' -o -iname '*.pk3' \) -print0 | while IFS= read -r -d '' z; do
    mkdir -p "$z.d" && (cd "$z.d" && nice -n 10 python3 -c '
import sys, zipfile
exts = (".ogg", ".oga", ".mp3", ".flac", ".wav", ".opus", ".mod", ".xm", ".it", ".s3m", ".mid", ".midi", ".kar")
with zipfile.ZipFile(sys.argv[1]) as z:
    z.extractall(members=[n for n in z.namelist() if n.lower().endswith(exts) and ".." not in n])
' "$z") || log "unreadable archive $z"
    rm -f "$z"
  done
  dpkg-deb -f "$deb" Version > "$WORK/x/$p/.version"
  touch "$WORK/x/$p/.midi" "$WORK/x/$p/.done"
done

# durations in one Python process (libsndfile, ffprobe only for what it cannot read), then manifest.csv
# at once over the originals that synesthete.audio.decode reads (all the teacher's cache needs), then the
# FLAC pass, then manifest.csv again with every track (tracker modules included).
PY=${PYTHON:-$(dirname "$0")/../.venv/bin/python}
"$PY" -c 'import soundfile' 2>/dev/null || PY=python3  # without soundfile: ffprobe for every duration
WORK="$WORK" CORPUS="$CORPUS" MIN_SECONDS="$MIN_SECONDS" JOBS="$JOBS" PACKAGES="$PACKAGES" FLACS="$FLACS" \
  SOUNDFONT="$SOUNDFONT" nice -n 10 "$PY" - <<'PY'
import csv, hashlib, os, re, subprocess, sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

W, OUT = Path(os.environ["WORK"]), Path(os.environ["CORPUS"])
MIN, JOBS = float(os.environ["MIN_SECONDS"]), int(os.environ["JOBS"])
AUDIO = (".ogg", ".oga", ".mp3", ".flac", ".wav", ".opus", ".mod", ".xm", ".it", ".s3m", ".mid", ".midi", ".kar")
SKIP = re.compile(r"ambien|voice|speech|narrat|dialog", re.I)
# effect folders; a tracker module in one is still a composition (ironseed keeps its 28 in sound/)
SFX = re.compile(r"sfx|/sounds?/(?!.*music)|effects?/", re.I)
MODULES = (".mod", ".xm", ".it", ".s3m")  # with MIDIS, the only files synesthete.audio.decode cannot read
MIDIS = (".mid", ".midi", ".kar")  # rendered by fluidsynth; a MIDI file is a composition wherever it lies
RENDERED = MODULES + MIDIS


def kind(path: Path) -> str:
    suffix = path.suffix.lower()
    return "module" if suffix in MODULES else "midi" if suffix in MIDIS else "recorded"

try:
    import soundfile
except ImportError:
    soundfile = None


def licence(pkg_dir: Path) -> str:
    """The distinct License: names of the package's copyright file (or '' if it states none)."""
    names = []
    for f in pkg_dir.glob("usr/share/doc/*/copyright"):
        for m in re.finditer(r"^License:\s*(\S.*)$", f.read_text(errors="replace"), re.M):
            if m.group(1).strip() not in names:
                names.append(m.group(1).strip())
    return "; ".join(names)


def seconds(path: Path) -> float:
    """Duration from the header: libsndfile in-process (ms a file), one ffprobe for what it cannot read;
    a MIDI file's is known once rendered (inf until then)."""
    if path.suffix.lower() in MIDIS:
        return float("inf")
    if soundfile is not None and path.suffix.lower() not in MODULES:
        try:
            info = soundfile.info(str(path))
            if info.frames > 0 and info.samplerate > 0:
                return info.frames / info.samplerate
        except Exception:
            pass
    r = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                        str(path)], capture_output=True, text=True)
    try:
        return float(r.stdout.strip().splitlines()[0])
    except (ValueError, IndexError):
        return 0.0


def decode(src: Path, dst: Path) -> str | None:
    """Mono 22,050-Hz FLAC, once; None when it worked, else the reason. A MIDI file is rendered first
    (fluidsynth, 44.1 kHz stereo, gain 0.3: dense files stay below full scale), then goes the same way."""
    if dst.exists():
        return None
    tmp, wav = dst.with_suffix(".tmp.flac"), dst.with_suffix(".tmp.wav")
    try:
        if src.suffix.lower() in MIDIS:
            r = subprocess.run(["fluidsynth", "-ni", "-q", "-g", "0.3", "-r", "44100", "-F", str(wav),
                                os.environ["SOUNDFONT"], str(src)], capture_output=True, text=True, timeout=900)
            if r.returncode or not wav.is_file():
                return (r.stderr.strip().splitlines() or ["fluidsynth failed"])[-1]
            src = wav
        r = subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-y", "-i", str(src), "-vn", "-ac", "1",
                            "-ar", "22050", "-sample_fmt", "s16", "-c:a", "flac", str(tmp)],
                           capture_output=True, text=True)
    except subprocess.TimeoutExpired:
        return "render took over 15 minutes"
    finally:
        wav.unlink(missing_ok=True)
    if r.returncode:
        tmp.unlink(missing_ok=True)
        return (r.stderr.strip().splitlines() or ["ffmpeg failed"])[-1]
    tmp.rename(dst)
    return None


def write(rows: list, note: str, name: str = "manifest.csv") -> None:
    tmp = OUT / f"{name}.part"
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["package", "version", "licence", "file", "seconds", "path", "kind"])
        w.writerows(rows)
    os.replace(tmp, OUT / name)
    kinds = {k: [r for r in rows if r[6] == k] for k in ("recorded", "module", "midi")}
    by_kind = ", ".join(f"{k} {len(rs)} ({sum(float(r[4]) for r in rs) / 3600:.1f} h, "
                        f"{len({r[0] for r in rs})} packages)" for k, rs in kinds.items() if rs)
    hours = sum(float(r[4]) for r in rows) / 3600
    print(f"[corpus] {len(rows)} tracks, {hours:.1f} h, from {len({r[0] for r in rows})} packages"
          f" -> {OUT / name} ({note}): {by_kind}", file=sys.stderr, flush=True)


seen, todo = set(), []
for pkg in os.environ["PACKAGES"].split():
    d = W / "x" / pkg
    if not (d / ".done").exists():
        continue
    version, lic = (d / ".version").read_text().strip(), licence(d)
    for src in sorted(p for p in d.rglob("*") if p.suffix.lower() in AUDIO and p.is_file()):
        rel = str(src.relative_to(d))
        if SKIP.search("/" + rel) or (SFX.search("/" + rel) and src.suffix.lower() not in RENDERED):
            continue
        if src.suffix.lower() in MIDIS and (
            src.name.lower() == "notes.mid"  # a Frets on Fire note chart, not music
            or any(s.stem == src.stem and s.suffix.lower() in AUDIO and s.suffix.lower() not in RENDERED
                   for s in src.parent.iterdir())
        ):  # beside a recording of the same piece
            continue
        digest = hashlib.sha1(src.read_bytes()).hexdigest()
        if digest in seen:
            continue
        seen.add(digest)
        todo.append((pkg, version, lic, src, rel, digest))

with ThreadPoolExecutor(JOBS) as pool:
    durations = list(pool.map(lambda item: seconds(item[3]), todo))
long = [(item, dur) for item, dur in zip(todo, durations) if dur >= MIN]
print(f"[corpus] {len(todo)} files looked at, {len(long)} of {MIN:g} s or more (MIDI files: all, until"
      " rendered)", file=sys.stderr)


def row(item, dur: float) -> list:
    pkg, version, lic, src, rel, digest = item
    return [pkg, version, lic, rel, f"{dur:.1f}", f"audio/{pkg}/{digest[:12]}.flac", kind(src)]


(OUT / "audio").mkdir(parents=True, exist_ok=True)
write([row(item, dur) for item, dur in long if item[3].suffix.lower() not in RENDERED],
      "originals that synesthete.audio.decode reads; the FLAC pass follows")


def one(pair):
    item, dur = pair
    pkg, _, _, src, rel, digest = item
    rendered = src.suffix.lower() in RENDERED
    if os.environ.get("FLACS", "1") != "1" and not rendered:
        return row(item, dur)  # FLACS=0: only what the teacher cannot read from the original
    dst = OUT / "audio" / pkg / f"{digest[:12]}.flac"
    dst.parent.mkdir(parents=True, exist_ok=True)
    err = decode(src, dst)
    if err:
        print(f"[corpus] {pkg}/{rel}: not decoded: {err}", file=sys.stderr)
        return None
    dur = seconds(dst) or dur
    return dur >= MIN and dur != float("inf") and row(item, dur)


def same_render(r: list) -> bytes | None:
    """A MIDI render's audio MD5 (FLAC's STREAMINFO): different files of one piece (a copy in a zip, a
    version that differs only in lyrics) render to the same samples and are kept once."""
    if r[6] != "midi":
        return None
    with open(OUT / r[5], "rb") as f:
        head = f.read(42)
    return head[26:42] if head[:4] == b"fLaC" else None


rows, renders = [], set()
with ThreadPoolExecutor(JOBS) as pool:
    for i, r in enumerate(pool.map(one, long)):
        md5 = r and same_render(r)
        if md5 and md5 in renders:
            continue
        if r:
            rows.append(r)
            renders.add(md5)
        if i % 100 == 0:
            print(f"[corpus] {i}/{len(long)} files decoded, {len(rows)} tracks", file=sys.stderr, flush=True)
write(rows, "every track")
write([r for r in rows if r[6] == "recorded"], "recorded tracks only", "manifest-recorded.csv")
write([r for r in rows if r[6] != "midi"], "all but the MIDI renders", "manifest-nomidi.csv")
PY
[ "$KEEP_WORK" = 1 ] || rm -rf "$WORK/x"
