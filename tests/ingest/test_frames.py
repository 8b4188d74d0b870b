"""`lwm frames` against independent references: the ffmpeg command + Pillow
(LWM's own pipeline), known colours, a quadrant pattern that reveals the
orientation, and the sampling rules recomputed with numpy. Fixtures are made
with ffmpeg's lavfi sources; real videos from $LWM_SHARED_DATA/video are used
in addition when present."""
import json
import os
import subprocess
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(__file__))
from reference import (LWM, SHARED, TMP, Suite, diff_stats, encoders, ffmpeg, frame_times,  # noqa: E402
                       lwm_frames, load, lwm_resize_crop, reference_frames, select)

S = Suite("ingest/frames")
ENC = encoders()

# Tolerances, from measurements (bench/RESULTS.md has the figures):
# - RGB input vs Pillow: swscale and Pillow evaluate the same Keys (a = -0.5)
#   kernel, widened when downscaling, but with different fixed-point precision
#   and intermediate rounding: ±1 on natural content, a few levels on
#   single-pixel detail. Measured mean <= 0.36, p99 <= 7 on a fractal.
# - YUV video: the reference upsamples chroma to full size first, we resize
#   chroma directly from its subsampled plane, so saturated colour edges differ
#   by tens of levels on a few pixels. Measured mean <= 0.81, p99 <= 12.
RGB_TOL = (0.5, 8)
YUV_TOL = (1.5, 16)


def close(got, ref, tol, what):
    mean, p99, mx = diff_stats(got, ref)
    assert mean <= tol[0] and p99 <= tol[1], \
        f"{what}: |ours - reference| mean {mean:.3f} (max {tol[0]}), p99 {p99:.1f} (max {tol[1]}), max {mx}"


def fixture(name, *args):
    path = os.path.join(TMP, name)
    if not os.path.exists(path):  # made once per run; a failed make leaves nothing behind
        part = os.path.join(TMP, "part-" + name)
        ffmpeg(*args, part)
        os.rename(part, path)
    return path


def out_dir(name):
    d = os.path.join(TMP, "out-" + name)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        os.unlink(os.path.join(d, f))
    return d


def check_against_reference(video, tol, name, count=None):
    j, _, _ = lwm_frames(video, out_dir(name))
    refs = reference_frames(video, count)
    assert len(j["frames"]) == len(refs), f"{len(j['frames'])} frames, reference decodes {len(refs)}"
    for f, ref in zip(j["frames"], refs):
        got = load(f["file"])
        assert got.shape == (256, 256, 3), f"{f['file']} is {got.shape}"
        close(got, ref, tol, f"frame {f['index']}")
    return j


# ---- codecs ------------------------------------------------------------------------------

SRC = ["-f", "lavfi", "-i", "testsrc2=s=384x216:r=25:d=0.4"]  # 10 frames, 16:9


def codec_case(ext, args):
    video = fixture(f"codec-{args[1]}-{args[-1]}.{ext}", *SRC, *args)
    j = check_against_reference(video, YUV_TOL, "codec")
    assert len(j["frames"]) == 10, f"{len(j['frames'])} frames, want 10"


CODECS = [
    ("h264_8bit", "libx264", "mp4", ["-c:v", "libx264", "-pix_fmt", "yuv420p"]),
    ("h264_10bit", "libx264", "mp4", ["-c:v", "libx264", "-pix_fmt", "yuv420p10le"]),
    ("hevc", "libx265", "mp4", ["-c:v", "libx265", "-x265-params", "log-level=none", "-pix_fmt", "yuv420p"]),
    ("vp9", "libvpx-vp9", "webm", ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-pix_fmt", "yuv420p"]),
    ("av1", "libsvtav1", "mkv", ["-c:v", "libsvtav1", "-preset", "12", "-pix_fmt", "yuv420p"]),
    ("mpeg4", "mpeg4", "avi", ["-c:v", "mpeg4", "-q:v", "2", "-pix_fmt", "yuv420p"]),
]
for name, enc, ext, args in CODECS:
    if name == "av1" and enc not in ENC and "libaom-av1" in ENC:
        enc, args = "libaom-av1", ["-c:v", "libaom-av1", "-cpu-used", "8", "-pix_fmt", "yuv420p"]
    if enc in ENC:
        S.case("codec_" + name, codec_case, ext, args)
    else:
        S.skip("codec_" + name, f"no {enc} encoder")


# ---- colour matrix and range ---------------------------------------------------------------

COLOUR = (176, 64, 32)


def to_yuv(rgb, matrix, full):
    kr, kb = (0.299, 0.114) if matrix == "bt601" else (0.2126, 0.0722)
    r, g, b = (c / 255 for c in rgb)
    y = kr * r + (1 - kr - kb) * g + kb * b
    u, v = (b - y) / (2 * (1 - kb)), (r - y) / (2 * (1 - kr))
    return (y * 255, u * 255 + 128, v * 255 + 128) if full else (16 + 219 * y, 128 + 224 * u, 128 + 224 * v)


def from_yuv(yuv, matrix, full):
    kr, kb = (0.299, 0.114) if matrix == "bt601" else (0.2126, 0.0722)
    y, u, v = yuv
    if full:
        y, u, v = y / 255, (u - 128) / 255, (v - 128) / 255
    else:
        y, u, v = (y - 16) / 219, (u - 128) / 224, (v - 128) / 224
    r, b = y + 2 * (1 - kr) * v, y + 2 * (1 - kb) * u
    g = (y - kr * r - kb * b) / (1 - kr - kb)
    return tuple(255 * c for c in (r, g, b))


def colour_case(matrix, rng, pix_fmt):
    full = rng == "pc"
    # The colour must tell the conventions apart, or the case could not fail.
    for m2, f2 in [("bt601", False), ("bt709", False), ("bt601", True), ("bt709", True)]:
        if (m2, f2) != (matrix, full):
            wrong = from_yuv(to_yuv(COLOUR, matrix, full), m2, f2)
            assert max(abs(a - b) for a, b in zip(wrong, COLOUR)) > 8, f"colour does not discriminate {m2}"
    video = fixture(f"colour-{matrix}-{rng}-{pix_fmt}.mp4", "-f", "lavfi", "-i",
                    "color=c=0x%02X%02X%02X:s=320x240:r=10:d=0.3,format=rgb24" % COLOUR,
                    "-vf", f"scale=out_color_matrix={matrix}:out_range={rng}:flags=accurate_rnd",
                    "-c:v", "libx264", "-qp", "0", "-pix_fmt", pix_fmt,
                    "-colorspace", "smpte170m" if matrix == "bt601" else matrix, "-color_range", rng)
    j, _, _ = lwm_frames(video, out_dir("colour"))
    got = load(j["frames"][0]["file"])[96:160, 96:160].reshape(-1, 3).mean(axis=0)
    err = np.abs(got - np.array(COLOUR)).max()
    assert err <= 3, f"{matrix}/{rng}/{pix_fmt}: got {got.round(1)}, want {COLOUR}"


for matrix, rng, pix_fmt in [("bt601", "tv", "yuv420p"), ("bt709", "tv", "yuv420p"),
                             ("bt601", "pc", "yuv420p"), ("bt709", "pc", "yuv420p"),
                             ("bt709", "tv", "yuv420p10le")]:
    S.case(f"colour_{matrix}_{rng}_{pix_fmt}", colour_case, matrix, rng, pix_fmt)


# ---- orientation -----------------------------------------------------------------------------

QUAD = ["-f", "lavfi", "-i",
        "nullsrc=s=320x240:r=10:d=0.3,format=rgb24,geq=r='255*lt(X,W/2)':g='255*lt(Y,H/2)':b=128"]


def quadrants(img):
    """Colour class (r>127, g>127) of the four corners: TL, TR, BL, BR."""
    pts = [(20, 20), (20, 235), (235, 20), (235, 235)]  # (row, col)
    return [(int(img[y, x, 0] > 127), int(img[y, x, 1] > 127)) for y, x in pts]


def rotate_case(rotate):
    base = fixture("quad.mp4", *QUAD, "-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuv444p")
    video = fixture(f"quad-{rotate}.mp4", "-i", base, "-c", "copy", "-metadata:s:v:0", f"rotate={rotate}")
    j, _, _ = lwm_frames(video, out_dir("rot"))
    cw = j["source"]["rotation"]
    # Stored corners TL, TR, BL, BR are (1,1), (0,1), (1,0), (0,0). Turning the
    # picture cw by 90 moves stored BL to the top-left, TL to the top-right, etc.
    stored = {"TL": (1, 1), "TR": (0, 1), "BL": (1, 0), "BR": (0, 0)}
    upright = {0: ["TL", "TR", "BL", "BR"], 90: ["BL", "TL", "BR", "TR"],
               180: ["BR", "BL", "TR", "TL"], 270: ["TR", "BR", "TL", "BL"]}[cw]
    want = [stored[c] for c in upright]
    got = quadrants(load(j["frames"][0]["file"]))
    assert got == want, f"rotation {cw}: corners {got}, want {want}"
    # The ffmpeg command (which honours the display matrix itself) agrees.
    close(load(j["frames"][0]["file"]), reference_frames(video, 1)[0], YUV_TOL, "vs ffmpeg autorotate")
    return cw


def rotate_all():
    seen = {rotate_case(r) for r in (0, 90, 180, 270)}
    assert seen == {0, 90, 180, 270}, f"rotations reported: {sorted(seen)}"


S.case("rotation_upright_all_quarters", rotate_all)


def crop_window_case():
    """Downscaled landscape video is resized only over the columns the crop keeps
    (preprocess.c choose_window); a 180-degree display matrix takes the full-width
    path, so the two must agree to within swscale's fixed-point rounding."""
    base = fixture("wide.mp4", "-f", "lavfi", "-i", "testsrc2=s=1200x720:r=25:d=0.2",
                   "-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuv420p")
    turned = fixture("wide-180.mp4", "-i", base, "-c", "copy", "-metadata:s:v:0", "rotate=180")
    j0, _, _ = lwm_frames(base, out_dir("wide0"))
    j1, _, _ = lwm_frames(turned, out_dir("wide180"))
    assert j1["source"]["rotation"] == 180, j1["source"]
    assert len(j0["frames"]) == len(j1["frames"]) == 5
    for a, b in zip(j0["frames"], j1["frames"]):
        d = np.abs(load(a["file"]) - load(b["file"])[::-1, ::-1])
        assert d.max() <= 1 and (d > 0).mean() <= 0.01, \
            f"frame {a['index']}: window vs full width: max {d.max()}, {100 * (d > 0).mean():.2f} % differ"


S.case("resize_window_matches_full_width", crop_window_case)


# ---- MP4 described by its header -------------------------------------------------------------
# H.264 and HEVC in MP4 are described from the container header instead of by
# probing, which decodes a frame (demux.c). ffprobe (which probes) must agree
# with that description, and the same stream remuxed into Matroska (which we
# probe) must give the same frames.

def ffprobe_source(path):
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "stream=width,height,pix_fmt,avg_frame_rate:format=duration", "-of", "json",
                          path], capture_output=True, text=True).stdout
    j = json.loads(out)
    st = j["streams"][0]
    num, den = (int(x) for x in st["avg_frame_rate"].split("/"))
    return st["width"], st["height"], st["pix_fmt"], num / den, float(j["format"]["duration"])


def header_case(name, *args):
    mp4 = fixture(f"hdr-{name}.mp4", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=3", *args)
    mkv = fixture(f"hdr-{name}.mkv", "-i", mp4, "-map", "0:v", "-c", "copy")
    for sampling in ([], ["--fps", "2"]):
        jm, err, _ = lwm_frames(mp4, out_dir("hdr-mp4"), "-v", *sampling)
        assert "stream information from the container header" in err, f"{sampling}: the MP4 was probed"
        s = jm["source"]
        got = (s["width"], s["height"], s["pix_fmt"], s["fps"], round(s["duration"], 3))
        w, h, pf, fps, dur = ffprobe_source(mp4)
        assert got == (w, h, pf, fps, round(dur, 3)), f"source {got}, ffprobe says {(w, h, pf, fps, dur)}"
        jk, err, _ = lwm_frames(mkv, out_dir("hdr-mkv"), "-v", *sampling)
        assert "stream information from probing" in err, "the Matroska copy was not probed"
        assert [f["pts"] for f in jm["frames"]] == [f["pts"] for f in jk["frames"]], \
            f"{sampling}: pts differ from the probed copy's"
        for a, b in zip(jm["frames"], jk["frames"]):
            assert np.array_equal(load(a["file"]), load(b["file"])), f"{sampling}: frame {a['index']} differs"


S.case("mp4_header_h264_bframes", header_case, "h264", "-c:v", "libx264", "-bf", "3", "-pix_fmt", "yuv420p")
S.case("mp4_header_h264_10bit", header_case, "h264-10", "-c:v", "libx264", "-pix_fmt", "yuv420p10le")
S.case("mp4_header_fragmented", header_case, "frag", "-c:v", "libx264", "-movflags",
       "frag_keyframe+empty_moov", "-pix_fmt", "yuv420p")
S.case("mp4_header_with_audio", header_case, "audio", "-f", "lavfi", "-i", "sine=d=3", "-c:v", "libx264",
       "-c:a", "aac", "-shortest", "-pix_fmt", "yuv420p")
if "libx265" in ENC:
    S.case("mp4_header_hevc", header_case, "hevc", "-c:v", "libx265", "-x265-params", "log-level=none",
           "-pix_fmt", "yuv420p")


# ---- sampling --------------------------------------------------------------------------------

def sampling_case(video, args, fps, max_frames, want_count=None):
    j, _, _ = lwm_frames(video, out_dir("sample" + "".join(args)), *args)
    times = frame_times(video)
    picks = select(times, fps, max_frames)
    got = [round(f["pts"], 4) for f in j["frames"]]
    want = [round(times[i], 4) for i in picks]
    assert got == want, f"{args}: pts {got[:8]}..., want {want[:8]}..."
    if want_count is not None:
        assert len(got) == want_count, f"{len(got)} frames, want {want_count}"
    return j, picks


def sampling_cfr():
    video = fixture("cfr6s.mp4", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=6",
                    "-c:v", "libx264", "-g", "50", "-pix_fmt", "yuv420p")
    sampling_case(video, ["--fps", "1"], 1, 0, 6)
    sampling_case(video, ["--max-frames", "7"], 0, 7, 7)
    sampling_case(video, ["--fps", "2", "--max-frames", "5"], 2, 5, 5)
    sampling_case(video, ["--max-frames", "1000"], 0, 1000, 150)
    # The picked frames hold the right pictures, not just the right timestamps.
    j, picks = sampling_case(video, ["--fps", "0.5"], 0.5, 0, 3)
    refs = reference_frames(video, max(picks) + 1)
    for f, i in zip(j["frames"], picks):
        close(load(f["file"]), refs[i], YUV_TOL, f"frame at {f['pts']}")


def sampling_vfr():
    # Frame intervals grow from 40 to 98 ms (quadratic timestamps); B-frames reorder packets.
    video = fixture("vfr.mkv", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=2",
                    "-vf", "settb=1/1000,setpts='40*N+0.6*N*N'", "-fps_mode", "passthrough",
                    "-enc_time_base", "1:1000",
                    "-c:v", "libx264", "-bf", "3", "-pix_fmt", "yuv420p")
    times = frame_times(video)
    gaps = np.diff(times)
    assert gaps.max() > 2 * gaps.min() > 0, "fixture is not variable-rate"
    sampling_case(video, ["--fps", "4"], 4, 0)
    sampling_case(video, ["--max-frames", "9"], 0, 9, 9)
    sampling_case(video, ["--fps", "10", "--max-frames", "5"], 10, 5, 5)


S.case("sampling_constant_rate", sampling_cfr)
S.case("sampling_variable_rate", sampling_vfr)


# ---- images and Pillow ------------------------------------------------------------------------

def image_case(ext, size, tol):
    src = fixture(f"img-{size}.png", "-f", "lavfi", "-i", f"testsrc2=s={size}", "-frames:v", "1",
                  "-pix_fmt", "rgb24")
    img = src if ext == "png" else fixture(f"img-{size}.{ext}", "-i", src, "-q:v", "2")
    j, _, _ = lwm_frames(img, out_dir("img"))
    assert len(j["frames"]) == 1 and j["frames"][0]["pts"] == 0, f"frames {j['frames']}"
    ref = lwm_resize_crop(Image.open(img).convert("RGB"))  # Pillow decodes the image itself
    close(load(j["frames"][0]["file"]), ref, tol, f"{ext} {size}")


S.case("image_png", image_case, "png", "640x480", RGB_TOL)
S.case("image_png_portrait", image_case, "png", "300x500", RGB_TOL)
S.case("image_jpeg", image_case, "jpg", "640x480", YUV_TOL)
if "libwebp" in ENC:
    S.case("image_webp", image_case, "webp", "500x300", YUV_TOL)
else:
    S.skip("image_webp", "no libwebp encoder")


def pillow_bicubic():
    """The resize itself against Pillow on RGB pictures: no colour conversion involved."""
    report = []
    for src, size in [("testsrc2", "1920x1080"), ("mandelbrot", "1280x720"), ("testsrc2", "640x360"),
                      ("testsrc2", "160x120"), ("mandelbrot", "360x640")]:
        img = fixture(f"pil-{src}-{size}.png", "-f", "lavfi", "-i", f"{src}=s={size}",
                      "-frames:v", "1", "-pix_fmt", "rgb24")
        j, _, _ = lwm_frames(img, out_dir("pil"))
        got, ref = load(j["frames"][0]["file"]), lwm_resize_crop(Image.open(img).convert("RGB"))
        mean, p99, mx = diff_stats(got, ref)
        report.append(f"{src} {size}: mean {mean:.3f} p99 {p99:.0f} max {mx}")
        close(got, ref, RGB_TOL, f"{src} {size}")
    print("# bicubic vs Pillow: " + "; ".join(report), flush=True)


S.case("bicubic_close_to_pillow", pillow_bicubic)


# ---- real videos ---------------------------------------------------------------------------------

def count_by_ingest(video):
    """Frames of a whole video, counted by `lwm ingest` (decodes without writing PNGs)."""
    manifest = os.path.join(TMP, "count.jsonl")
    with open(manifest, "w") as f:
        f.write(json.dumps({"id": "v", "video": video}) + "\n")
    r = subprocess.run([LWM, "ingest", "--manifest", manifest, "--json", "-q"],
                       capture_output=True, text=True)
    assert r.returncode == 0, f"lwm ingest: {r.stderr[:300]}"
    return json.loads(r.stdout)["frames"]


def real_video_case(name):
    video = os.path.join(SHARED, "video", name)
    times = frame_times(video)
    if len(times) <= 130:  # every frame, written and checked
        j, _ = sampling_case(video, [], 0, 0, len(times))
    else:  # long clips: count every frame without writing 300+ PNGs
        n = count_by_ingest(video)
        assert n == len(times), f"{n} frames decoded, the stream has {len(times)}"
    runs = [(["--max-frames", "8"], 0, 8)] + ([(["--fps", "1"], 1, 0)] if times[-1] > 2 else [])
    for args, fps, mf in runs:
        jj, picks = sampling_case(video, args, fps, mf)
        for f in jj["frames"][:1] + jj["frames"][-1:]:
            assert load(f["file"]).shape == (256, 256, 3), f"{f['file']} is not 256x256"
        if len(times) > 130:
            j = jj
    # Upright: the first frame matches the ffmpeg command's autorotated decode,
    # and for rotated files clearly not the unrotated one.
    first = load(j["frames"][0]["file"])
    close(first, reference_frames(video, 1)[0], YUV_TOL, "first frame")
    if j["source"]["rotation"]:
        raw = reference_frames(video, 1, autorotate=False)[0]
        assert diff_stats(first, raw)[0] > 10, "rotated file looks like its stored orientation"


def corrupted_case():
    video = os.path.join(SHARED, "video", "corrupted.mp4")
    j, err, rc = lwm_frames(video, out_dir("corrupt"), check=False)
    if rc != 0:
        assert "corrupted.mp4" in err, f"failure does not name the file: {err}"
        return
    n = len(j["frames"])
    assert 0 < n <= 50, f"{n} frames"
    assert "corrupted.mp4" in err and "failed to decode" in err, f"no damage warning: {err!r}"


if SHARED and os.path.isdir(os.path.join(SHARED, "video")):
    for name in sorted(os.listdir(os.path.join(SHARED, "video"))):
        if name != "corrupted.mp4":
            S.case("real_" + name.replace(".", "_"), real_video_case, name)
    S.case("real_corrupted_mp4", corrupted_case)
else:
    S.skip("real_videos", "no ../shared/data")

sys.exit(1 if S.failed else 0)
