# Issue 14: the dataset's tokenizer is the default. lwm ingest --tokenizer T records T (its
# absolute path and XXH3-128); pack, train (no data.tokenizer), show and the Python binding
# use it when none is given; another tokenizer is a clear error unless forced; lwm inspect
# shows it; a tokenizer file changed since ingest is refused.
SUITE=loader/dataset_tokenizer
. tests/lib.sh

$PY - "$TMP" <<'PY'
import sys
sys.path.insert(0, "tests/loader")
import lwm_reference as r
import os
d = sys.argv[1]
os.makedirs(d + "/a"), os.makedirs(d + "/b")
r.train_tiny_spm(d + "/a", 120)
r.train_tiny_spm(d + "/b", 90)
PY
A="$TMP/a/tiny.model" B="$TMP/b/tiny.model"
cp "$A" "$TMP/moving.model"
$PY - "$TMP/data.jsonl" <<'PY'
import json, random, sys
r = random.Random(4)
with open(sys.argv[1], "w") as f:
    for i in range(12):
        f.write(json.dumps({"id": "s%d" % i, "fields": "[caption],vision", "caption": "a dog runs over the fox",
                            "vision": [r.randrange(8192) for _ in range(256)]}) + "\n")
        f.write(json.dumps({"id": "t%d" % i, "fields": "text", "text": "what is shown here a cat jumps"}) + "\n")
PY
(cd "$TMP/a" && "$LWM" ingest --manifest "$TMP/data.jsonl" --out "$TMP/ds" --tokenizer tiny.model -q) \
    >"$TMP/ingest.out" 2>"$TMP/ingest.err"
check ingest_records_tokenizer "ingest failed: $(head -c 300 "$TMP/ingest.err")" test -d "$TMP/ds"
expect_ok ingest_plain "$LWM" ingest --manifest "$TMP/data.jsonl" --out "$TMP/plain" -q
expect_ok ingest_moving "$LWM" ingest --manifest "$TMP/data.jsonl" --out "$TMP/moved" --tokenizer "$TMP/moving.model" -q
expect_fail ingest_missing_tokenizer "nope.model" "$LWM" ingest --manifest "$TMP/data.jsonl" --out "$TMP/none" --tokenizer "$TMP/nope.model" -q
check ingest_missing_tokenizer_stores_nothing "a dataset was created" test ! -e "$TMP/none"

expect_ok inspect "$LWM" inspect "$TMP/ds"
check inspect_shows_tokenizer "inspect lacks the recorded path" grep -q "tokenizer .*$TMP/a/tiny.model" "$TMP/inspect.out"

# pack: the default equals the recorded tokenizer given explicitly.
expect_ok pack_default "$LWM" pack "$TMP/ds" --seq-len 512 --count 6 --json
expect_ok pack_given "$LWM" pack "$TMP/ds" --seq-len 512 --count 6 --json --tokenizer "$A"
check pack_default_is_recorded "rows differ" cmp -s "$TMP/pack_default.out" "$TMP/pack_given.out"
expect_fail pack_other_refused "not the one .*ingested with.*force" "$LWM" pack "$TMP/ds" --seq-len 512 --count 1 --tokenizer "$B"
expect_ok pack_other_forced "$LWM" pack "$TMP/ds" --seq-len 512 --count 1 --tokenizer "$B" --force-tokenizer
expect_fail pack_none_recorded "tokenizer is needed" "$LWM" pack "$TMP/plain" --seq-len 512 --count 1
cp "$B" "$TMP/moving.model"
expect_fail pack_changed_file_refused "changed since ingest" "$LWM" pack "$TMP/moved" --seq-len 512 --count 1
# Moved with the dataset (issue 16): found next to it by name and hash; gone: said so.
mkdir -p "$TMP/proj"
cp -r "$TMP/ds" "$TMP/proj/ds"
cp "$A" "$TMP/proj/tiny.model"
mv "$A" "$A.away"
expect_ok pack_moved_found "$LWM" pack "$TMP/proj/ds" --seq-len 512 --count 6 --json
check pack_moved_same_rows "rows differ" cmp -s "$TMP/pack_default.out" "$TMP/pack_moved_found.out"
rm "$TMP/proj/tiny.model"
expect_fail pack_gone_refused "recorded tokenizer .*tiny.model is gone.*--tokenizer" \
    "$LWM" pack "$TMP/proj/ds" --seq-len 512 --count 1
mv "$A.away" "$A"

# show: raw text tokenized with the dataset's tokenizer.
expect_ok show_default "$LWM" show "$TMP/ds" t0
check show_prints_tokens "no token ids" grep -q "tokens (.*tokenizer" "$TMP/show_default.out"
expect_fail show_other_refused "not the one" "$LWM" show "$TMP/ds" t0 --tokenizer "$B"
expect_ok show_other_forced "$LWM" show "$TMP/ds" t0 --tokenizer "$B" --force-tokenizer

# train: no data.tokenizer uses the dataset's; another one refused unless data.force_tokenizer.
cfg() {
    cat <<EOF
{"model": {"dim": 16, "layers": 1, "heads": 2, "ffn_dim": 32, "text_vocab": 128, "vision_vocab": 8448},
 "optimizer": {"lr": 1e-3, "warmup_steps": 1}, "train": {"attn_tile": 32, "chunk": 64},
 "stages": [{"seq_len": 512, "rope_theta": 10000, "tokens_per_batch": 512, "total_tokens": 512}],
 "data": {"kind": "loader"$1}}
EOF
}
cfg "" >"$TMP/default.json"
cfg ", \"tokenizer\": \"$B\"" >"$TMP/other.json"
cfg ", \"tokenizer\": \"$B\", \"force_tokenizer\": true" >"$TMP/forced.json"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
[ "${SAN:-}" = 1 ] && export ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" # see test_train_cli.sh
expect_ok train_default "$LWM" train --config "$TMP/default.json" --data "$TMP/ds" --out "$TMP/r1" --quiet
expect_fail train_other_refused "not the one .*ingested with" "$LWM" train --config "$TMP/other.json" --data "$TMP/ds" --out "$TMP/r2" --quiet
expect_ok train_other_forced "$LWM" train --config "$TMP/forced.json" --data "$TMP/ds" --out "$TMP/r3" --quiet

# Python binding: tokenizer=None is the dataset's.
check python_default_and_refusal "binding" $PY - "$TMP" "$A" "$B" <<'PY'
import os, sys
sys.path.insert(0, os.path.join(os.environ.get("LWM_ROOT", "."), "python"))
from lwm_loader import Loader, LoaderError
d, a, b = sys.argv[1:]
with Loader([d + "/ds"], seq_len=512) as x, Loader([d + "/ds"], tokenizer=a, seq_len=512) as y:
    p, q = x.next(), y.next()
    assert (p["input_tokens"] == q["input_tokens"]).all()
try:
    Loader([d + "/ds"], tokenizer=b, seq_len=512)
    sys.exit(1)
except LoaderError as e:
    assert "not the one" in str(e), e
Loader([d + "/ds"], tokenizer=b, seq_len=512, force_tokenizer=True).close()
PY
