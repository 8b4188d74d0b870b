# Issue 14: elastic resume. A run checkpointed on 2 ranks resumes on 4 (and one on 4 resumes
# on 1) with the same global rows: the losses after the resume are those of an uninterrupted
# run on the new rank count (within 1e-4 relative). A config change that alters the stream
# is refused naming the field; the checkpoint is left as it was.
SUITE=train/elastic
. tests/lib.sh
. tests/train/stream_corpus.sh

train() { local np=$1; shift; $MPIRUN -np "$np" "$LWM" train --data "$TMP/ds" --quiet "$@"; }

expect_ok uninterrupted_4_ranks train 4 --config "$TMP/run.json" --out "$TMP/u4"
expect_ok uninterrupted_1_rank train 1 --config "$TMP/run.json" --out "$TMP/u1"
# 2 -> 4: stop after step 1 (inside stage 0), resume on 4 ranks across the stage change.
expect_ok first_step_on_2 train 2 --config "$TMP/run.json" --out "$TMP/a" --steps 1
expect_ok resume_on_4 train 4 --config "$TMP/run.json" --out "$TMP/a" --resume
check resumed_2_to_4_matches "$(losses "$TMP/a/log.jsonl" 2>/dev/null) vs $(losses "$TMP/u4/log.jsonl" 2>/dev/null)" \
    close "$(losses "$TMP/a/log.jsonl" 2>/dev/null)" "$(losses "$TMP/u4/log.jsonl" 2>/dev/null)" 1e-4
# 4 -> 1: stop after step 3 (inside stage 1), resume on 1 rank.
expect_ok three_steps_on_4 train 4 --config "$TMP/run.json" --out "$TMP/b" --steps 3
cp "$TMP/b/checkpoint.bin" "$TMP/b.ckpt"
# Changes that alter the stream are refused by name, the checkpoint untouched.
sed 's/"seq_len": 1024, "rope_theta": 10000000, "tokens_per_batch": 4096/"seq_len": 2048, "rope_theta": 10000000, "tokens_per_batch": 4096/' \
    "$TMP/run.json" >"$TMP/seq.json"
expect_fail changed_seq_len_refused "stages\[\]\.seq_len" train 1 --config "$TMP/seq.json" --out "$TMP/b" --resume
sed 's/"seed": 5/"seed": 6/' "$TMP/run.json" >"$TMP/seed.json"
expect_fail changed_seed_refused "seed" train 1 --config "$TMP/seed.json" --out "$TMP/b" --resume
# The loader state inside checkpoint.bin is checked like a state file: row -1 (both checksums
# recomputed) is refused naming the field.
$PY - "$TMP/b.ckpt" "$TMP/c/checkpoint.bin" <<'PY'
import os, struct, sys, xxhash
b = bytearray(open(sys.argv[1], "rb").read())
assert xxhash.xxh3_128_hexdigest(bytes(b[12:-32])).encode() == bytes(b[-32:]), "checkpoint hash"
at = b.index(b"LWMLDST\0")
struct.pack_into("<q", b, at + 40, -1)
struct.pack_into("<Q", b, at + 152, xxhash.xxh3_64_intdigest(bytes(b[at:at + 152])))
b[-32:] = xxhash.xxh3_128_hexdigest(bytes(b[12:-32])).encode()
os.makedirs(os.path.dirname(sys.argv[2]), exist_ok=True)
open(sys.argv[2], "wb").write(b)
PY
expect_fail crafted_checkpoint_row_refused "resume state: row -1 out of range" train 1 --config "$TMP/run.json" --out "$TMP/c" --resume
check checkpoint_untouched "a refused resume changed checkpoint.bin" cmp -s "$TMP/b/checkpoint.bin" "$TMP/b.ckpt"
expect_ok resume_on_1 train 1 --config "$TMP/run.json" --out "$TMP/b" --resume
check resumed_4_to_1_matches "$(losses "$TMP/b/log.jsonl" 2>/dev/null) vs $(losses "$TMP/u1/log.jsonl" 2>/dev/null)" \
    close "$(losses "$TMP/b/log.jsonl" 2>/dev/null)" "$(losses "$TMP/u1/log.jsonl" 2>/dev/null)" 1e-4
