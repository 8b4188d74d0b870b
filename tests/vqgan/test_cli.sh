# lwm vqgan: init, import (pickle and diffusers layouts), info, encode (image,
# video), decode, and the bad-input cases with their messages.
SUITE=vqgan/cli
. tests/lib.sh

W=$TMP/tiny.safetensors
expect_ok init_tiny "$LWM" vqgan init --preset tiny --seed 4 --out "$W"
expect_fail init_unknown_preset "unknown preset 'nope'" "$LWM" vqgan init --preset nope --seed 1 --out "$TMP/x"
expect_fail init_needs_seed "needs --preset" "$LWM" vqgan init --preset tiny --out "$TMP/x"

"$LWM" vqgan info --vqgan "$W" --json >"$TMP/info.json" 2>/dev/null
check info_json "info --json lacks hash/untrained/codes_per_frame" \
    $PY -c "import json,sys; j=json.load(open('$TMP/info.json')); sys.exit(not (len(j['hash'])==32 and j['untrained'] is True and j['codes_per_frame']==256 and j['num_embeddings']==512))"

# Import: the same fresh tensors as LWM's pickle and as a diffusers safetensors.
$PY tests/vqgan/ref_vqgan.py import-fixtures "$W" "$TMP/vqgan.pkl" "$TMP/diff.safetensors" "$TMP/expect.safetensors"
expect_ok import_pickle "$LWM" vqgan import "$TMP/vqgan.pkl" --out "$TMP/a.safetensors"
expect_ok import_diffusers "$LWM" vqgan import "$TMP/diff.safetensors" --out "$TMP/b.safetensors"
ha=$("$LWM" vqgan info --vqgan "$TMP/a.safetensors" --json 2>/dev/null | $PY -c "import json,sys; print(json.load(sys.stdin)['hash'])")
hb=$("$LWM" vqgan info --vqgan "$TMP/b.safetensors" --json 2>/dev/null | $PY -c "import json,sys; print(json.load(sys.stdin)['hash'])")
he=$("$LWM" vqgan info --vqgan "$TMP/expect.safetensors" --json 2>/dev/null | $PY -c "import json,sys; print(json.load(sys.stdin)['hash'])")
check imported_hashes_equal "pickle $ha, diffusers $hb, expected $he" test -n "$ha" -a "$ha" = "$hb" -a "$ha" = "$he"
printf 'not a pickle' >"$TMP/bad.pkl"
expect_fail import_bad_pickle "bad.pkl" "$LWM" vqgan import "$TMP/bad.pkl" --out "$TMP/c.safetensors"

# Encode an image (256x256: used as is) and a 3-second video at 1 fps.
ffmpeg -v error -y -f lavfi -i testsrc2=size=256x256:rate=1 -frames:v 1 "$TMP/frame.png"
ffmpeg -v error -y -f lavfi -i testsrc2=size=320x240:rate=10 -t 3 -pix_fmt yuv420p "$TMP/clip.mp4"
expect_ok encode_image "$LWM" vqgan encode --vqgan "$TMP/a.safetensors" --image "$TMP/frame.png" --json
cp "$TMP/encode_image.out" "$TMP/codes1.json"
check encode_image_json "expected 1 frame of 256 codes below 512" \
    $PY -c "import json,sys; j=json.load(open('$TMP/codes1.json')); c=j['codes']; sys.exit(not (j['frames']==1 and len(c)==1 and len(c[0])==256 and all(0<=x<512 for x in c[0]) and len(set(c[0]))>4))"
"$LWM" vqgan encode --vqgan "$TMP/b.safetensors" --image "$TMP/frame.png" --json >"$TMP/codes1b.json" 2>/dev/null
check encode_same_across_layouts "pickle and diffusers imports encode differently" cmp -s "$TMP/codes1.json" "$TMP/codes1b.json"
expect_ok encode_video "$LWM" vqgan encode --vqgan "$W" --video "$TMP/clip.mp4" --fps 1 --json --quiet
cp "$TMP/encode_video.out" "$TMP/codes3.json"
check encode_video_frames "expected 3 frames at 1 fps" \
    $PY -c "import json,sys; j=json.load(open('$TMP/codes3.json')); sys.exit(not (j['frames']==3 and len(j['codes'])==3))"
expect_ok encode_human "$LWM" vqgan encode --vqgan "$W" --image "$TMP/frame.png"
check encode_human_lines "human output lacks 'frame 0:' with 256 codes" \
    $PY -c "import sys; l=[x for x in open('$TMP/encode_human.out') if x.startswith('frame 0:')]; sys.exit(not (l and len(l[0].split())==258))"

# Decode: frames side by side in one PNG.
expect_ok decode_three "$LWM" vqgan decode --vqgan "$W" --codes "$TMP/codes3.json" --out "$TMP/three.png"
dims=$(ffprobe -v error -show_entries stream=width,height -of csv=p=0 "$TMP/three.png" 2>/dev/null)
check decode_side_by_side "decoded PNG is $dims, expected 768,256" test "$dims" = "768,256"

# Bad input.
$PY -c "import json; c=[[0]*256]; c[0][5]=512; json.dump({'frames':1,'codes':c}, open('$TMP/bad_codes.json','w'))"
expect_fail decode_code_too_big "frame 0, position 5.*codebook size 512" \
    "$LWM" vqgan decode --vqgan "$W" --codes "$TMP/bad_codes.json" --out "$TMP/x.png"
$PY -c "import json; c=[[0]*256]; c[0][9]=70000; json.dump({'frames':1,'codes':c}, open('$TMP/bad_codes2.json','w'))"
expect_fail decode_code_huge "frame 0, position 9" \
    "$LWM" vqgan decode --vqgan "$W" --codes "$TMP/bad_codes2.json" --out "$TMP/x.png"
$PY -c "import json; json.dump({'frames':1,'codes':[[1]*255]}, open('$TMP/short.json','w'))"
expect_fail decode_short_frame "frame 0: expected a list of 256 codes" \
    "$LWM" vqgan decode --vqgan "$W" --codes "$TMP/short.json" --out "$TMP/x.png"
head -c 100000 "$W" >"$TMP/trunc.safetensors"
expect_fail truncated_weights "trunc.safetensors: truncated" \
    "$LWM" vqgan encode --vqgan "$TMP/trunc.safetensors" --image "$TMP/frame.png"
expect_ok init_small "$LWM" vqgan init --preset small --seed 1 --out "$TMP/small.safetensors"
expect_fail wrong_frame_size "take 64×64×3 frames; ingest makes 256×256" \
    "$LWM" vqgan encode --vqgan "$TMP/small.safetensors" --image "$TMP/frame.png"
expect_fail missing_image "nothing.png" "$LWM" vqgan encode --vqgan "$W" --image "$TMP/nothing.png"
expect_fail video_as_image "not an image" "$LWM" vqgan encode --vqgan "$W" --image "$TMP/clip.mp4"
