#!/usr/bin/env bash
# corpus.sh -- build the student's training corpus: full-length music from Debian game and music data
# packages (free licences), fetched with `apt-get download` (never installed), decoded once to mono
# 22,050-Hz FLAC. No audio enters the repository: everything goes to $CORPUS (default /work/corpus).
#
# The packages that ../shared/data/dev is built from (see its build_dev.sh) are refused, so the dev
# figures stay held out. Tracker modules (.mod/.xm/.it/.s3m) render through ffmpeg's libopenmpt.
# Files under MIN_SECONDS (sound effects, jingles) and ambience/voice folders are skipped; identical
# files are kept once; a tracker module is a composition, so effect folders do not exclude it.
#
# Output: $CORPUS/audio/<package>/<n>.flac and $CORPUS/manifest.csv
#   (package, version, licence, source file, seconds, path). manifest.csv is first written right after
#   the durations are read (seconds, in one process), with the originals synesthete.audio.decode reads,
#   which is all the teacher's cache needs (python -m synesthete.models.train can start then), and again
#   after the slow FLAC pass with every track, tracker modules included (rendered only as FLAC).
# Usage: bash bench/corpus.sh            (JOBS, MIN_SECONDS, PACKAGES, KEEP_WORK, FLACS override;
#   FLACS=0 decodes only the tracker modules, the FLACs the teacher's cache reads)
set -euo pipefail
CORPUS=${CORPUS:-/work/corpus}
WORK=${WORK:-$CORPUS/.work}
MIN_SECONDS=${MIN_SECONDS:-30}
JOBS=${JOBS:-2}
KEEP_WORK=${KEEP_WORK:-1}
FLACS=${FLACS:-1}  # 0: decode to FLAC only the tracker modules (the teacher reads the originals)
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
tuxmath-data vectoroids vodovod vonsh vor wizznic-data wordwarvi-sound zaz-data"}
# ../shared/data/dev's sources and its composers' other packages: never part of the corpus
DEV_PACKAGES="drascula-music marsshooter-data parsec47-data rrootage-data torus-trooper-data
tumiki-fighters-data gunroar-data mu-cade-data titanion-data
a7xpg-data noiz2sa-data val-and-rick-data"  # Kenta Cho's other games: the composer of dev's abagames group

command -v ffmpeg >/dev/null || apt-get install -y -q --no-install-recommends ffmpeg >&2
for t in ffmpeg ffprobe python3 dpkg-deb; do command -v $t >/dev/null || { log "missing $t"; exit 1; }; done
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
PATTERNS=()
for e in ogg oga mp3 flac wav opus mod xm it s3m zip pk3; do PATTERNS+=("*.$e" "*.${e^^}"); done
for deb in "$WORK"/debs/*.deb; do
  p=$(dpkg-deb -f "$deb" Package)
  case " $PACKAGES " in *[[:space:]]"$p"[[:space:]]*) ;; *) continue ;; esac
  [ -f "$WORK/x/$p/.done" ] && continue
  rm -rf "$WORK/x/$p"; mkdir -p "$WORK/x/$p"
  dpkg-deb --fsys-tarfile "$deb" | nice -n 10 tar -x -C "$WORK/x/$p" --wildcards "${PATTERNS[@]}" '*/copyright' 2>/dev/null || true
  # archives (0 A.D.'s mods, Quake-style .pk3) may hold the music: unpack their audio beside them
  find "$WORK/x/$p" \( -iname '*.zip' -o -iname '*.pk3' \) -print0 | while IFS= read -r -d '' z; do
    mkdir -p "$z.d" && (cd "$z.d" && nice -n 10 python3 -c '
import sys, zipfile
exts = (".ogg", ".oga", ".mp3", ".flac", ".wav", ".opus", ".mod", ".xm", ".it", ".s3m")
with zipfile.ZipFile(sys.argv[1]) as z:
    z.extractall(members=[n for n in z.namelist() if n.lower().endswith(exts) and ".." not in n])
' "$z") || log "unreadable archive $z"
    rm -f "$z"
  done
  dpkg-deb -f "$deb" Version > "$WORK/x/$p/.version"
  touch "$WORK/x/$p/.done"
done

# durations in one Python process (libsndfile, ffprobe only for what it cannot read), then manifest.csv
# at once over the originals that synesthete.audio.decode reads (all the teacher's cache needs), then the
# FLAC pass, then manifest.csv again with every track (tracker modules included).
PY=${PYTHON:-$(dirname "$0")/../.venv/bin/python}
"$PY" -c 'import soundfile' 2>/dev/null || PY=python3  # without soundfile: ffprobe for every duration
WORK="$WORK" CORPUS="$CORPUS" MIN_SECONDS="$MIN_SECONDS" JOBS="$JOBS" PACKAGES="$PACKAGES" FLACS="$FLACS" \
  nice -n 10 "$PY" - <<'PY'
import csv, hashlib, os, re, subprocess, sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

W, OUT = Path(os.environ["WORK"]), Path(os.environ["CORPUS"])
MIN, JOBS = float(os.environ["MIN_SECONDS"]), int(os.environ["JOBS"])
AUDIO = (".ogg", ".oga", ".mp3", ".flac", ".wav", ".opus", ".mod", ".xm", ".it", ".s3m")
SKIP = re.compile(r"ambien|voice|speech|narrat|dialog", re.I)
# effect folders; a tracker module in one is still a composition (ironseed keeps its 28 in sound/)
SFX = re.compile(r"sfx|/sounds?/(?!.*music)|effects?/", re.I)
MODULES = (".mod", ".xm", ".it", ".s3m")  # the only files synesthete.audio.decode cannot read
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
    """Duration from the header: libsndfile in-process (ms a file), one ffprobe for what it cannot read."""
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
    """Mono 22,050-Hz FLAC, once; None when it worked, else the reason."""
    if dst.exists():
        return None
    tmp = dst.with_suffix(".tmp.flac")
    r = subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-y", "-i", str(src), "-vn", "-ac", "1",
                        "-ar", "22050", "-sample_fmt", "s16", "-c:a", "flac", str(tmp)],
                       capture_output=True, text=True)
    if r.returncode:
        tmp.unlink(missing_ok=True)
        return (r.stderr.strip().splitlines() or ["ffmpeg failed"])[-1]
    tmp.rename(dst)
    return None


def write(rows: list, note: str) -> None:
    tmp = OUT / "manifest.csv.part"
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["package", "version", "licence", "file", "seconds", "path"])
        w.writerows(rows)
    os.replace(tmp, OUT / "manifest.csv")
    hours = sum(float(r[4]) for r in rows) / 3600
    print(f"[corpus] {len(rows)} tracks, {hours:.1f} h, from {len({r[0] for r in rows})} packages"
          f" -> {OUT / 'manifest.csv'} ({note})", file=sys.stderr, flush=True)


seen, todo = set(), []
for pkg in os.environ["PACKAGES"].split():
    d = W / "x" / pkg
    if not (d / ".done").exists():
        continue
    version, lic = (d / ".version").read_text().strip(), licence(d)
    for src in sorted(p for p in d.rglob("*") if p.suffix.lower() in AUDIO and p.is_file()):
        rel = str(src.relative_to(d))
        if SKIP.search("/" + rel) or (SFX.search("/" + rel) and src.suffix.lower() not in MODULES):
            continue
        digest = hashlib.sha1(src.read_bytes()).hexdigest()
        if digest in seen:
            continue
        seen.add(digest)
        todo.append((pkg, version, lic, src, rel, digest))

with ThreadPoolExecutor(JOBS) as pool:
    durations = list(pool.map(lambda item: seconds(item[3]), todo))
long = [(item, dur) for item, dur in zip(todo, durations) if dur >= MIN]
print(f"[corpus] {len(todo)} files looked at, {len(long)} of {MIN:g} s or more", file=sys.stderr)


def row(item, dur: float) -> list:
    pkg, version, lic, src, rel, digest = item
    return [pkg, version, lic, rel, f"{dur:.1f}", f"audio/{pkg}/{digest[:12]}.flac"]


(OUT / "audio").mkdir(parents=True, exist_ok=True)
write([row(item, dur) for item, dur in long if item[3].suffix.lower() not in MODULES],
      "originals that synesthete.audio.decode reads; the FLAC pass follows")


def one(pair):
    item, dur = pair
    pkg, _, _, src, rel, digest = item
    module = src.suffix.lower() in MODULES
    if os.environ.get("FLACS", "1") != "1" and not module:
        return row(item, dur)  # FLACS=0: only what the teacher cannot read from the original
    dst = OUT / "audio" / pkg / f"{digest[:12]}.flac"
    dst.parent.mkdir(parents=True, exist_ok=True)
    err = decode(src, dst)
    if err:
        print(f"[corpus] {pkg}/{rel}: not decoded: {err}", file=sys.stderr)
        return None
    dur = seconds(dst) or dur
    return dur >= MIN and row(item, dur)


rows = []
with ThreadPoolExecutor(JOBS) as pool:
    for i, r in enumerate(pool.map(one, long)):
        if r:
            rows.append(r)
        if i % 100 == 0:
            print(f"[corpus] {i}/{len(long)} files decoded, {len(rows)} tracks", file=sys.stderr, flush=True)
write(rows, "every track")
PY
[ "$KEEP_WORK" = 1 ] || rm -rf "$WORK/x"
