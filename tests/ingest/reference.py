"""Independent references for the ingest tests, written from lwm-format.md.

The LWM reference pipeline: FFmpeg decodes a frame to full-size RGB (as decord
does), Pillow resizes the short side to 256 with its default BICUBIC filter and
crops the centre with its float box (§6). Frame selection follows §2.3
(numpy.linspace) and the fps rule documented in ingest.h (nearest frame to each
tick). Nothing here calls our code.
"""
import functools
import io
import json
import os
import subprocess
import tempfile
import time

import numpy as np
from PIL import Image

LWM = os.environ.get("LWM", "build/lwm")
TMP = os.environ.get("LWM_TMP") or tempfile.mkdtemp()
SHARED = os.environ.get("LWM_SHARED_DATA") or ""

# Flags so that FFmpeg's own YUV→RGB step is as exact as it can be.
EXACT_RGB = "bicubic+accurate_rnd+full_chroma_int+full_chroma_inp"


class Suite:
    def __init__(self, name):
        self.name = name
        self.failed = 0

    def case(self, name, fn, *args):
        t0 = time.time()
        try:
            fn(*args)
            print(f"ok {self.name}/{name}", flush=True)
        except AssertionError as e:
            self.failed += 1
            print(f"not ok {self.name}/{name}: {e}", flush=True)
        except Exception as e:  # a crash in a case is a failure of that case
            self.failed += 1
            print(f"not ok {self.name}/{name}: {type(e).__name__}: {e}", flush=True)
        if os.environ.get("LWM_TEST_TIMES"):
            print(f"# {name}: {time.time() - t0:.1f} s", flush=True)

    def skip(self, name, why):
        print(f"ok {self.name}/{name} (skipped: {why})", flush=True)


def ffmpeg(*args):
    r = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], capture_output=True)
    if r.returncode != 0:
        raise RuntimeError("ffmpeg " + " ".join(args) + ": " + r.stderr.decode()[-300:])
    return r.stdout


def encoders():
    out = subprocess.run(["ffmpeg", "-hide_banner", "-encoders"], capture_output=True, text=True).stdout
    return {line.split()[1] for line in out.splitlines() if line.startswith(" V")}


def lwm_frames(path, out_dir, *args, check=True):
    """Runs `lwm frames --json`; returns (parsed JSON or None, stderr, exit status)."""
    r = subprocess.run([LWM, "frames", path, "--out", out_dir, "--json", *args],
                       capture_output=True, text=True)
    if check and r.returncode != 0:
        raise AssertionError(f"lwm frames {path} exited {r.returncode}: {r.stderr.strip()[:300]}")
    return (json.loads(r.stdout) if r.returncode == 0 else None), r.stderr, r.returncode


def load(path):
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.int32)


def lwm_resize_crop(im):
    """lwm-format.md §6 steps 2-3 with Pillow, on a PIL RGB image."""
    w, h = im.size
    if w <= h:
        nw, nh = 256, int(256 * h / w)
    else:
        nw, nh = int(256 * w / h), 256
    im = im.resize((nw, nh))  # Pillow's default for RGB: BICUBIC
    box = ((nw - 256) / 2, (nh - 256) / 2, (nw + 256) / 2, (nh + 256) / 2)
    return np.asarray(im.crop(box), dtype=np.int32)


def decoded_rgb_frames(path, count=None, autorotate=True):
    """Full-size RGB frames in presentation order, decoded by the ffmpeg command."""
    args = [] if autorotate else ["-noautorotate"]
    args += ["-i", path, "-map", "0:v:%d" % best_stream(path)[0], "-fps_mode", "passthrough",
             "-sws_flags", EXACT_RGB]
    if count:
        args += ["-frames:v", str(count)]
    out = ffmpeg(*args, "-f", "image2pipe", "-c:v", "png", "-compression_level", "0", "-")
    frames, pos = [], 0
    while pos < len(out):  # split the PNG stream at IEND chunks
        end = out.index(b"IEND", pos) + 8
        frames.append(Image.open(io.BytesIO(out[pos:end])).convert("RGB"))
        pos = end
    return frames


def reference_frames(path, count=None, autorotate=True):
    return [lwm_resize_crop(im) for im in decoded_rgb_frames(path, count, autorotate)]


@functools.lru_cache(maxsize=None)
def best_stream(path):
    """(index among video streams, stream) the ffmpeg command picks: the most pixels."""
    info = json.loads(subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v", "-show_streams", "-of", "json", path],
        capture_output=True, text=True).stdout)["streams"]
    best = max(range(len(info)), key=lambda i: info[i].get("width", 0) * info[i].get("height", 0))
    return best, info[best]


@functools.lru_cache(maxsize=None)
def frame_times(path):
    """Presentation times (s, from the first frame) of the picked stream's packets."""
    idx, st = best_stream(path)
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:%d" % idx,
                          "-show_entries", "packet=pts_time,flags", "-of", "json", path],
                         capture_output=True, text=True).stdout
    pkts = [p for p in json.loads(out)["packets"] if "D" not in p.get("flags", "")]
    t = sorted(float(p["pts_time"]) for p in pkts)
    return [x - t[0] for x in t]


def linspace_pick(n, m):
    if m <= 0 or n <= m:
        return list(range(n))
    return [int(x) for x in np.linspace(0, n - 1, m)]


def fps_pick(times, fps):
    """Ticks k/fps while the video lasts; nearest frame start, ties to the earlier; once each."""
    n = len(times)
    end = times[-1] + (times[-1] - times[-2] if n > 1 else 0)
    picks, k = [], 0
    while True:
        tick = k / fps
        if k > 0 and tick >= end - 1e-4:  # ffprobe prints times to 1 µs
            break
        best = min(range(n), key=lambda i: (abs(times[i] - tick), i))
        if not picks or picks[-1] != best:
            picks.append(best)
        k += 1
    return picks


def select(times, fps=0, max_frames=0):
    picks = fps_pick(times, fps) if fps else list(range(len(times)))
    if max_frames and len(picks) > max_frames:
        picks = [picks[i] for i in linspace_pick(len(picks), max_frames)]
    return picks


def diff_stats(a, b):
    d = np.abs(a.astype(np.int32) - b.astype(np.int32))
    return float(d.mean()), float(np.percentile(d, 99)), int(d.max())
