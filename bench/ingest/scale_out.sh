#!/usr/bin/env bash
# Scale-out ingest: one manifest as 1, 2 and 4 parts run side by side on this
# machine (what N machines do, squeezed onto one), then `lwm merge`; and the
# merge time of 10,000 samples at two record sizes (it should not depend on
# record bytes). Prints samples/s and frames/s of each layout.
set -u
cd "$(dirname "$0")/../.."
LWM=${LWM:-$PWD/build/lwm}
DIR=${BENCH_TMP:-$(mktemp -d)}/scale
rm -rf "$DIR"; mkdir -p "$DIR/media"
CLIPS=${BENCH_CLIPS:-16}
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
"$LWM" vqgan init --preset tiny --seed 1 --out "$DIR/w.safetensors" >/dev/null
for i in $(seq 0 $((CLIPS - 1))); do
    ffmpeg -nostdin -v error -y -f lavfi -i "testsrc2=s=640x360:r=30:d=4" -vf "hue=h=$((i * 20))" \
        -c:v libx264 -preset veryfast -pix_fmt yuv420p "$DIR/media/v$i.mp4"
    echo "{\"id\": \"v$i\", \"video\": \"media/v$i.mp4\", \"caption\": \"clip $i\"}"
done >"$DIR/m.jsonl"
now() { date +%s.%N; }
run_parts() { # n: n parts side by side, then the merge
    local n=$1 t0 t1 t2
    rm -rf "$DIR/p$n"; mkdir -p "$DIR/p$n"
    t0=$(now)
    for k in $(seq 0 $((n - 1))); do
        "$LWM" ingest --manifest "$DIR/m.jsonl" --vqgan "$DIR/w.safetensors" --fps 4 -q \
            --part $k/$n --out "$DIR/p$n/$k" >/dev/null 2>&1 &
    done
    wait
    t1=$(now)
    "$LWM" merge "$DIR/p$n"/* --out "$DIR/p$n/merged" >/dev/null
    t2=$(now)
    local frames
    frames=$("$LWM" inspect "$DIR/p$n/merged" --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["frames"])')
    echo "$n $t0 $t1 $t2 $frames" | awk -v clips="$CLIPS" '{ing=$3-$2; mer=$4-$3;
        printf "scale-out: %d part(s) side by side: %d samples, %d frames in %.2f s: %.2f samples/s, %.1f frames/s; merge %.3f s\n",
        $1, clips, $5, ing, clips/ing, $5/ing, mer}'
}
for n in 1 2 4; do run_parts $n; done

merge_10k() { # frames per sample
    local f=$1 d=$DIR/m10k_$1
    rm -rf "$d"; mkdir -p "$d"
    python3 - "$d/m.jsonl" "$f" <<'PY'
import json, random, sys
path, frames = sys.argv[1], int(sys.argv[2])
r = random.Random(1)
with open(path, "w") as out:
    for i in range(10000):
        out.write(json.dumps({"id": f"s{i}", "vision": [r.randrange(8192) for _ in range(256 * frames)],
                              "caption": f"sample {i}"}) + "\n")
PY
    for k in 0 1 2 3; do "$LWM" ingest --manifest "$d/m.jsonl" --part $k/4 --out "$d/$k" -q >/dev/null 2>&1 & done
    wait
    local bytes t0 t1
    bytes=$(du -sb "$d"/[0-3] | awk '{s+=$1} END {print s}')
    t0=$(now); "$LWM" merge "$d"/[0-3] --out "$d/merged" >/dev/null; t1=$(now)
    echo "$t0 $t1 $bytes $f" | awk '{printf "merge: 10,000 samples x %d frames (%.1f MB of shards, 4 parts): %.3f s\n", $4, $3/1e6, $2-$1}'
}
merge_10k 1
merge_10k 16
