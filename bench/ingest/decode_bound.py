#!/usr/bin/python3
"""The least an exact decoder must decode to output the sampled frames of an H.264 clip.

usage: decode_bound.py CLIP FRAMES_JSON [FFMPEG_SECONDS]
FRAMES_JSON is `lwm frames CLIP --fps F --json` (the sampled frames' pts). Every P frame
predicts from the anchor (I or P) before it, so a sampled frame needs every I/P frame of its
GOP shown up to it, and a sampled B frame also the anchor after it. Counting only those (not
the reference B-frames a b-pyramid adds) gives a lower bound on the work, hence an upper
bound on the speed-up over decoding every frame, whatever the decoder. Prints both, by
frame count and by coded bytes (decoding time follows the bits more than the count).
Given the ffmpeg command's time, it also times libavcodec decoding just those I/P chains
(ffmpeg -skip_frame bidir from each GOP's keyframe to its last sampled frame, best of 3,
minus ffmpeg's start-up time) and prints the speed-up that leaves on this machine.
"""
import json
import subprocess
import sys
import time

clip, frames_json = sys.argv[1], sys.argv[2]
out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                      "frame=pts_time,pict_type,pkt_size", "-of", "json", clip],
                     check=True, capture_output=True, text=True).stdout
frames = [f for f in json.loads(out)["frames"] if "pts_time" in f]
frames.sort(key=lambda f: float(f["pts_time"]))
picks = [fr["pts"] for fr in json.load(open(frames_json))["frames"]]

needed = set()
gop_start = 0
last_pick_in_gop = {}
for i, f in enumerate(frames):
    if f["pict_type"] == "I":
        gop_start = i
    t = float(f["pts_time"])
    if any(abs(t - p) < 1e-4 for p in picks):
        needed.add(i)
        last_pick_in_gop[gop_start] = i
        if f["pict_type"] == "B":  # its backward reference: the next anchor
            j = next((k for k in range(i + 1, len(frames)) if frames[k]["pict_type"] != "B"), None)
            if j is not None:
                needed.add(j)
for start, last in last_pick_in_gop.items():
    needed.update(k for k in range(start, last + 1) if frames[k]["pict_type"] in ("I", "P"))

size = lambda ks: sum(int(frames[k]["pkt_size"]) for k in ks)
n_all, b_all = len(frames), size(range(len(frames)))
n_need, b_need = len(needed), size(needed)
types = {t: sum(f["pict_type"] == t for f in frames) for t in "IPB"}
print("exact-decoding bound: %d picks need >= %d of %d frames (I %d, P %d, B %d), %.0f%% of the bits: "
      "at most %.2fx by frames, %.2fx by bits" % (len(picks), n_need, n_all, types["I"], types["P"],
      types["B"], 100.0 * b_need / b_all, n_all / n_need, b_all / b_need))

if len(sys.argv) > 3:
    def best(args):
        t = []
        for _ in range(3):
            t0 = time.monotonic()
            subprocess.run(["ffmpeg", "-nostdin", "-v", "error"] + args + ["-f", "null", "-"], check=True)
            t.append(time.monotonic() - t0)
        return min(t)
    startup = best(["-i", clip, "-frames:v", "1"])
    chain = 0.0
    for start, last in sorted(last_pick_in_gop.items()):
        t0, t1 = float(frames[start]["pts_time"]), float(frames[last]["pts_time"])
        chain += max(0.0, best(["-skip_frame", "bidir", "-ss", "%.6f" % t0, "-i", clip,
                                "-t", "%.6f" % (t1 - t0 + 0.001)]) - startup)
    ff = float(sys.argv[3])
    print("libavcodec decoding only those I/P chains here: %.2f s (ffmpeg start-up %.2f s excluded) "
          "against the ffmpeg command's %.2f s: at most %.2fx" % (chain, startup, ff, ff / chain))
