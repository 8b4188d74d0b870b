# lwm export DATASET --format lwm-jsonl (issue 18): the dataset's samples as LWM's own JSONL
# (id, fields spec, text fields, inline vision code lists) equal the lines it was ingested from;
# ingesting the export gives a dataset that packs to the same rows (--layout lwm --no-shuffle),
# as does the export itself read as a JSONL dataset; progress is reported; a failed export
# leaves no file.
SUITE=shard/export_jsonl
. tests/lib.sh

TOK=$($PY -c "import sys; sys.path.insert(0, 'tests/loader'); import lwm_reference as r; print(r.train_tiny_spm('$TMP'))")
$PY - "$TMP/corpus.jsonl" <<'PY'
import json, random, sys
r = random.Random(18)
words = "a dog runs over the lazy fox what is shown here the cat jumps hello world".split()
def text(n): return " ".join(r.choice(words) for _ in range(n))
with open(sys.argv[1], "w") as f:
    for i in range(8):
        f.write(json.dumps({"id": "t%02d" % i, "fields": "text", "text": text(r.choice([20, 90]))}) + "\n")
        f.write(json.dumps({"id": "i%02d" % i, "fields": "[caption],vision", "caption": text(6),
                            "vision": [r.randrange(8192) for _ in range(256)]}) + "\n")
        f.write(json.dumps({"id": "v%02d" % i, "fields": ["[caption],vision", "[vision],caption"],
                            "caption": text(8) + " \u00e9t\u00e9 \"q\"",
                            "vision": [r.randrange(8192) for _ in range(256 * r.choice([2, 3]))]}) + "\n")
PY
expect_ok ingest "$LWM" ingest --manifest "$TMP/corpus.jsonl" --out "$TMP/ds" --tokenizer "$TOK" -q
expect_ok export "$LWM" export "$TMP/ds" --format lwm-jsonl --out "$TMP/out.jsonl"
check progress_reported "no final progress line: $(tr '\n' ' ' <"$TMP/export.err" | head -c 200)" \
    grep -q "export: 24/24 samples" "$TMP/export.err"
check lines_equal_the_ingested_ones "exported samples differ from the corpus" $PY -c '
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
sys.exit(0 if len(a) == len(b) == 24 and sorted(a, key=lambda o: o["id"]) == sorted(b, key=lambda o: o["id"]) else 1)' \
    "$TMP/corpus.jsonl" "$TMP/out.jsonl"
expect_ok reingest "$LWM" ingest --manifest "$TMP/out.jsonl" --out "$TMP/ds2" --tokenizer "$TOK" -q
pack() { "$LWM" pack "$1" --layout lwm --no-shuffle --seq-len 512 --count 12 --tokenizer "$TOK" --json; }
expect_ok pack_original pack "$TMP/ds"
expect_ok pack_reingested pack "$TMP/ds2"
expect_ok pack_export_as_jsonl pack "$TMP/out.jsonl"
check reingested_packs_same_rows "rows differ" cmp -s "$TMP/pack_original.out" "$TMP/pack_reingested.out"
check export_packs_same_rows "rows differ" cmp -s "$TMP/pack_original.out" "$TMP/pack_export_as_jsonl.out"
check rows_not_empty "no rows packed" test -s "$TMP/pack_original.out"

expect_fail not_a_dataset "$TMP/nothing" "$LWM" export "$TMP/nothing" --format lwm-jsonl --out "$TMP/x.jsonl"
expect_fail unwritable_out "no-such-dir" "$LWM" export "$TMP/ds" --format lwm-jsonl --out "$TMP/no-such-dir/x.jsonl" --quiet
check failed_export_leaves_nothing "a file was left" test -z "$(ls "$TMP" | grep '^x.jsonl')"
