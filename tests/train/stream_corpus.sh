# Sourced by the issue-14 tests (after tests/lib.sh): a dataset ingested from an LWM JSONL
# file with text, images and videos with fields lists ($TMP/ds, tokenizer $TOK: LLaMA-2's when
# $LWM_SHARED_DATA has it, else a tiny SentencePiece model) and a two-stage training config
# ($TMP/run.json: 512 then 1024 positions, 4 rows a step, 2 steps a stage, seed 5); $MPIRUN,
# losses LOG (the logged losses) and close A B TOL (4 losses each, relative).
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
[ "${SAN:-}" = 1 ] && export ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" # see test_train_cli.sh
MPIRUN="timeout 180 mpirun --allow-run-as-root --oversubscribe --bind-to none -x OMP_NUM_THREADS -x OPENBLAS_NUM_THREADS"
losses() { $PY -c 'import json,sys; print(" ".join("%.9g" % json.loads(l)["loss"] for l in open(sys.argv[1])))' "$1"; }
close() { $PY -c 'import sys; a=[float(x) for x in sys.argv[1].split()]; b=[float(x) for x in sys.argv[2].split()]; sys.exit(0 if len(a)==len(b)==4 and max(abs(x-y)/abs(y) for x,y in zip(a,b)) <= float(sys.argv[3]) else 1)' "$1" "$2" "$3"; }

TOK="$SHARED_DATA/tokenizer/llama2-tokenizer.model"
if [ -z "$SHARED_DATA" ] || [ ! -f "$TOK" ]; then
    TOK=$($PY -c "import sys; sys.path.insert(0, 'tests/loader'); import lwm_reference as r; print(r.train_tiny_spm('$TMP'))")
fi
$PY - "$TMP/corpus.jsonl" <<'PY'
import json, random, sys
r = random.Random(14)
words = "a dog runs over the lazy fox what is shown here the cat jumps hello world".split()
def text(n): return " ".join(r.choice(words) for _ in range(n))
with open(sys.argv[1], "w") as f:
    for i in range(24):
        f.write(json.dumps({"id": "t%02d" % i, "fields": "text", "text": text(r.choice([20, 90]))}) + "\n")
        f.write(json.dumps({"id": "i%02d" % i, "fields": "[caption],vision", "caption": text(6),
                            "vision": [r.randrange(8192) for _ in range(256)]}) + "\n")
        frames = r.choice([2, 3, 5])  # 5 frames do not fit a 512-position row: split pieces
        f.write(json.dumps({"id": "v%02d" % i, "fields": ["[caption],vision", "[vision],caption"],
                            "caption": text(8),
                            "vision": [r.randrange(8192) for _ in range(256 * frames)]}) + "\n")
PY
expect_ok ingest "$LWM" ingest --manifest "$TMP/corpus.jsonl" --out "$TMP/ds" --tokenizer "$TOK" -q
cat >"$TMP/run.json" <<EOF
{"model": {"dim": 32, "layers": 2, "heads": 2, "ffn_dim": 64, "text_vocab": 32000, "vision_vocab": 8448},
 "optimizer": {"lr": 3e-3, "warmup_steps": 1},
 "train": {"attn_tile": 32, "chunk": 64, "seed": 5},
 "stages": [{"seq_len": 512, "rope_theta": 1000000, "tokens_per_batch": 2048, "total_tokens": 4096},
            {"seq_len": 1024, "rope_theta": 10000000, "tokens_per_batch": 4096, "total_tokens": 8192}],
 "data": {"kind": "loader", "tokenizer": "$TOK"}}
EOF

