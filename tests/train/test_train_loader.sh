# lwm train on a real corpus through the loader (an LWM JSONL of captioned random-code
# "videos" and text, a tiny SentencePiece model): two curriculum stages on 2 ring ranks,
# the same losses on 1, 2 and 4 ranks, resume with the loader state bit for bit, and a dataset
# shorter than one batch rejected with a clear message.
SUITE=train/loader
. tests/lib.sh
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
[ "${SAN:-}" = 1 ] && export ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" # see test_train_cli.sh
MPIRUN="timeout 180 mpirun --allow-run-as-root --oversubscribe --bind-to none -x OMP_NUM_THREADS -x OPENBLAS_NUM_THREADS"

$PY -c "import sys; sys.path.insert(0, 'tests/loader'); import lwm_reference as r; r.train_tiny_spm('$TMP')"
$PY - "$TMP" <<'PY'
import json, random, sys
r = random.Random(0)
d = sys.argv[1]
things = ["a dog runs over the fox", "a cat jumps", "what is shown here", "hello world story"]
with open(d + "/corpus.jsonl", "w") as f:
    for i in range(40):
        frames = r.choice([1, 2])
        f.write(json.dumps({"id": "v%02d" % i, "fields": "[caption],vision",
                            "caption": things[i % 4],
                            "vision": [r.randrange(8192) for _ in range(256 * frames)]}) + "\n")
        f.write(json.dumps({"id": "t%02d" % i, "fields": "text",
                            "text": "the lazy fox runs over the dog " * r.choice([3, 9])}) + "\n")
with open(d + "/tiny.jsonl", "w") as f:
    f.write(json.dumps({"id": "only", "fields": "text", "text": "a dog"}) + "\n")
PY
cat >"$TMP/corpus.json" <<EOF
{"model": {"dim": 32, "layers": 2, "heads": 2, "ffn_dim": 64, "text_vocab": 128, "vision_vocab": 8448},
 "optimizer": {"lr": 3e-3, "warmup_steps": 1},
 "train": {"attn_tile": 32, "chunk": 64},
 "stages": [{"seq_len": 512, "rope_theta": 1000000, "tokens_per_batch": 1024, "total_tokens": 2048},
            {"seq_len": 1024, "rope_theta": 10000000, "tokens_per_batch": 2048, "total_tokens": 4096}],
 "data": {"kind": "loader", "tokenizer": "$TMP/tiny.model"}}
EOF
losses() { $PY -c 'import json,sys; print(" ".join("%.9g" % json.loads(l)["loss"] for l in open(sys.argv[1])))' "$1"; }
close() { $PY -c 'import sys; a=[float(x) for x in sys.argv[1].split()]; b=[float(x) for x in sys.argv[2].split()]; sys.exit(0 if len(a)==len(b)>0 and max(abs(x-y)/abs(y) for x,y in zip(a,b)) <= float(sys.argv[3]) else 1)' "$1" "$2" "$3"; }

expect_ok corpus_two_stages_2_ranks $MPIRUN -np 2 "$LWM" train --config "$TMP/corpus.json" --data "$TMP/corpus.jsonl" --out "$TMP/r2" --quiet
check four_steps_both_stages "$(losses "$TMP/r2/log.jsonl")" $PY -c '
import json,sys
rows=[json.loads(l) for l in open(sys.argv[1])]
sys.exit(0 if [r["seq_len"] for r in rows]==[512,512,1024,1024] and all(r["vision_loss"]>0 and r["text_loss"]>0 for r in rows) else 1)' "$TMP/r2/log.jsonl"
# LWM's own layout on 1, 2 and 4 ranks (packed rows on every layout: test_stream_layouts.sh).
sed 's/"kind": "loader"/"kind": "loader", "layout": "lwm"/' "$TMP/corpus.json" >"$TMP/lwm.json"
expect_ok lwm_layout_1_rank $MPIRUN -np 1 "$LWM" train --config "$TMP/lwm.json" --data "$TMP/corpus.jsonl" --out "$TMP/l1" --quiet
expect_ok lwm_layout_2_ranks $MPIRUN -np 2 "$LWM" train --config "$TMP/lwm.json" --data "$TMP/corpus.jsonl" --out "$TMP/l2" --quiet
expect_ok lwm_layout_4_ranks $MPIRUN -np 4 "$LWM" train --config "$TMP/lwm.json" --data "$TMP/corpus.jsonl" --out "$TMP/l4" --quiet
check corpus_ring_2_matches_1 "$(losses "$TMP/l2/log.jsonl") vs $(losses "$TMP/l1/log.jsonl")" \
    close "$(losses "$TMP/l2/log.jsonl")" "$(losses "$TMP/l1/log.jsonl" 2>/dev/null)" 2e-6
check corpus_ring_4_matches_1 "$(losses "$TMP/l4/log.jsonl") vs $(losses "$TMP/l1/log.jsonl")" \
    close "$(losses "$TMP/l4/log.jsonl")" "$(losses "$TMP/l1/log.jsonl" 2>/dev/null)" 2e-6
expect_ok corpus_first_3_steps $MPIRUN -np 2 "$LWM" train --config "$TMP/corpus.json" --data "$TMP/corpus.jsonl" --out "$TMP/res" --steps 3 --quiet
expect_ok corpus_resume $MPIRUN -np 2 "$LWM" train --config "$TMP/corpus.json" --data "$TMP/corpus.jsonl" --out "$TMP/res" --resume --quiet
check corpus_resume_bit_identical "$(losses "$TMP/res/log.jsonl") vs $(losses "$TMP/r2/log.jsonl")" \
    cmp -s "$TMP/res/checkpoint.bin" "$TMP/r2/checkpoint.bin"
expect_fail dataset_shorter_than_one_batch "fewer than one batch" $MPIRUN -np 2 "$LWM" train --config "$TMP/corpus.json" --data "$TMP/tiny.jsonl" --out "$TMP/tiny" --quiet
expect_fail missing_dataset "nothing" $MPIRUN -np 2 "$LWM" train --config "$TMP/corpus.json" --data "$TMP/nothing" --out "$TMP/none" --quiet
