"""Sparse sampling decodes only what the picked frames need, and gets exactly
the pixels a full decode gets. For H.264, ingest reads the slice headers and
leaves out every frame no picked frame predicts from, b-pyramid reference
B-frames included (ingest/h264_plan.c); a mistake there shows as a picked
frame predicted from the wrong picture. So each case compares, byte for byte,
the PNG of every sampled frame with the PNG of the same frame from `lwm
frames` without sampling, which decodes everything. Fixtures carry temporal
noise, so a wrong reference changes the picture. Encoder settings cover the
reference structures x264 writes: b-pyramid normal and strict, several
references, weighted prediction, multiple slices, open GOPs, MBAFF, a
parameter set in every keyframe (MPEG-TS), and P-only streams."""
import filecmp
import functools
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from reference import LWM, SHARED, TMP, Suite, encoders, ffmpeg, lwm_frames  # noqa: E402

S = Suite("ingest/sparse_decode")
SRC = ["-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=4", "-vf", "noise=alls=16:allf=t"]
X264 = {
    "pyramid_ref1": ["-preset", "veryfast"],  # x264's b-pyramid, P-frames predicting from 1 frame
    "pyramid_ref3": ["-preset", "medium"],    # P-frames may predict from reference B-frames
    "pyramid_strict": ["-x264-params", "b-pyramid=strict:ref=2"],
    "no_pyramid": ["-x264-params", "b-pyramid=none:ref=2"],
    "p_only_ref4": ["-bf", "0", "-x264-params", "ref=4"],
    "ref16": ["-x264-params", "ref=16"],
    "weightp": ["-x264-params", "weightp=2:ref=3"],
    "slices4": ["-x264-params", "slices=4"],
    "open_gop": ["-x264-params", "open-gop=1:keyint=30"],
    "mbaff": ["-flags", "+ildct+ilme", "-x264-params", "interlaced=1"],
    "short_gop": ["-g", "12"],
    "one_idr": ["-x264-params", "keyint=infinite"],  # one segment: no seeking, one long replay
}


def fixture(name, args, ext="mp4"):
    path = os.path.join(TMP, f"sparse_{name}.{ext}")
    if not os.path.exists(path):
        gop = [] if "keyint=infinite" in args else ["-g", "50"]
        ffmpeg(*SRC, "-c:v", "libx264", *gop, *args, "-pix_fmt", "yuv420p", path)
    return path


def pict_types(path):
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "frame=pict_type", "-of", "json", path], capture_output=True, text=True).stdout
    return [f["pict_type"] for f in json.loads(out)["frames"]]


@functools.lru_cache(maxsize=None)
def full_decode(video):
    j, _, _ = lwm_frames(video, os.path.join(TMP, os.path.basename(video) + "_all"))
    return j


def all_frames(video):
    return {round(f["pts"], 6): f["file"] for f in full_decode(video)["frames"]}


def same_pixels(video, full, args):
    """Samples with args; every sampled PNG must equal the full decode's. Returns the JSON."""
    out = os.path.join(TMP, os.path.basename(video) + "_" + "_".join(a.strip("-") for a in args))
    j, err, _ = lwm_frames(video, out, *args)
    assert "damaged" not in err, f"{args}: a clean stream reported as damaged: {err.strip()[:200]}"
    assert j["frames"], f"{args}: no frames"
    for f in j["frames"]:
        ref = full.get(round(f["pts"], 6))
        assert ref, f"{args}: frame at {f['pts']} s is not a frame of the full decode"
        assert filecmp.cmp(f["file"], ref, shallow=False), \
            f"{args}: frame at {f['pts']} s differs from the full decode's"
    return j


def case(name, args, ext="mp4"):
    video = fixture(name, args, ext)
    full = all_frames(video)
    for sampling in (["--fps", "2"], ["--fps", "0.5"], ["--max-frames", "9"]):
        same_pixels(video, full, sampling)


def skips_reference_b_frames():
    # On x264's b-pyramid with one reference, P-frames never predict from a B-frame: the
    # picked frames need the I/P chain and at most one reference B-frame each (the one a
    # picked non-reference B predicts from), plus as many again for the decoder's bookkeeping.
    # Decoding every reference frame, as skipping only non-reference frames does, takes
    # about a third more here.
    video = fixture("pyramid_ref1", X264["pyramid_ref1"])
    types = pict_types(video)
    j = same_pixels(video, all_frames(video), ["--fps", "2"])
    picked = len(j["frames"])
    i_or_p = sum(t in "IP" for t in types)
    decoded = j["source"]["frames_decoded"]
    assert types.count("B") > len(types) / 2, "fixture has few B-frames"
    assert decoded <= i_or_p + 2 * picked, \
        f"decoded {decoded} frames; the I/P chain is {i_or_p} and {picked} frames were picked"


def full_decode_counts_every_frame():
    video = fixture("pyramid_ref1", X264["pyramid_ref1"])
    j = full_decode(video)
    assert j["source"]["frames_decoded"] == len(j["frames"]) == len(pict_types(video)), j["source"]


if "libx264" not in encoders():
    S.skip("x264_cases", "no libx264 encoder")
else:
    for name, args in X264.items():
        S.case(name, case, name, args)
    S.case("mpegts_inband_parameter_sets", case, "mpegts", ["-preset", "veryfast"], "ts")
    S.case("skips_reference_b_frames", skips_reference_b_frames)
    S.case("full_decode_counts_every_frame", full_decode_counts_every_frame)

def hevc_nonref_not_sent():
    # HEVC has no decode plan; packets of non-reference pictures (x265: the B-frames
    # outside the pyramid, about half) are left out, not sent to be dropped.
    video = os.path.join(TMP, "sparse_hevc.mp4")
    if not os.path.exists(video):
        ffmpeg(*SRC, "-c:v", "libx265", "-preset", "veryfast", "-x265-params", "log-level=error:keyint=50",
               "-pix_fmt", "yuv420p", video)
    j = same_pixels(video, all_frames(video), ["--fps", "2"])
    total = len(pict_types(video))
    assert j["source"]["frames_decoded"] < 0.75 * total, \
        f"{j['source']['frames_decoded']} of {total} packets sent to be decoded"
    for sampling in (["--fps", "0.5"], ["--max-frames", "9"]):
        same_pixels(video, all_frames(video), sampling)


if "libx265" in encoders():
    S.case("hevc_nonref_not_sent", hevc_nonref_not_sent)
else:
    S.skip("hevc_nonref_not_sent", "no libx265 encoder")

if SHARED and os.path.isdir(os.path.join(SHARED, "video")):
    def real_case(name):
        video = os.path.join(SHARED, "video", name)
        full = all_frames(video)
        for sampling in (["--fps", "2"], ["--max-frames", "5"]):
            same_pixels(video, full, sampling)
    for name in ("nasa_13013.mp4", "flipping_a_pancake.mkv", "bt709_full_range.mp4", "h264_10bits.mp4",
                 "h265_10bits.mp4", "h265_video.mp4"):
        S.case("real_" + name.replace(".", "_"), real_case, name)
else:
    S.skip("real_videos", "no ../shared/data")

sys.exit(1 if S.failed else 0)
