# Issue 16: a caption-only manifest (no "fields" anywhere, as in the README) is ingested,
# packed and trained with the shipped config, no flag or config edit: the dataset carries its
# tokenizer, VQGAN and default fields spec. The automatic spec is vision without loss, then
# the text fields in manifest order with loss; --fields (ingest, pack) and Loader(fields=...)
# override it.
SUITE=loader/dataset_defaults
. tests/lib.sh
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
[ "${SAN:-}" = 1 ] && export ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" # as the train tests
D=$TMP/dd
mkdir -p "$D"
TOK=$($PY -c "import sys; sys.path.insert(0, 'tests/loader'); import lwm_reference as r; print(r.train_tiny_spm('$D'))")
"$LWM" vqgan init --preset tiny --seed 3 --out "$D/tiny.safetensors" >/dev/null
ffmpeg -nostdin -v error -y -f lavfi -i testsrc2=s=96x64 -frames:v 1 "$D/red.png"
# One image with a caption (decoded and encoded), LWM code lists with a caption and plain text
# (cheap bulk: the training config's first batch needs 8192 tokens).
$PY - "$D/m.jsonl" <<'PY'
import json, random, sys
r = random.Random(16)
words = "a dog runs over the lazy fox what is shown here the cat jumps".split()
with open(sys.argv[1], "w") as f:
    f.write(json.dumps({"id": "img", "image": "red.png", "caption": "a test card", "question": "what"}) + "\n")
    for i in range(12):
        f.write(json.dumps({"id": "c%d" % i, "caption": " ".join(r.choice(words) for _ in range(6)),
                            "vision": [r.randrange(8192) for _ in range(512)], "question": "why"}) + "\n")
        f.write(json.dumps({"id": "t%d" % i, "text": " ".join(r.choice(words) for _ in range(200))}) + "\n")
PY
expect_ok ingest "$LWM" ingest --manifest "$D/m.jsonl" --out "$D/ds" --vqgan "$D/tiny.safetensors" --tokenizer "$TOK" -q

# pack: no --tokenizer, no --fields. Compared with the spec given explicitly, and checked
# against the rule: the image's codes carry no loss, its caption and question do.
expect_ok pack_defaults "$LWM" pack "$D/ds" --seq-len 1024 --count 3 --no-shuffle --json
check pack_default_masks "$(head -c 300 "$TMP/pack_defaults.out")" $PY - "$TMP/pack_defaults.out" "$TOK" <<'PY'
import json, sys
import sentencepiece as spm
sp = spm.SentencePieceProcessor(model_file=sys.argv[2])
row = json.loads(open(sys.argv[1]).readline())  # no shuffle: the image sample comes first
tin, tgt, loss, vis = row["input_tokens"], row["target_tokens"], row["loss_masks"], row["target_vision_masks"]
assert sum(vis[:600]) >= 256, "the image's codes are not there"
assert all(l == 0 for l, v in zip(loss, vis) if v), "a vision target carries loss"
for text in ("a test card", "what"):
    ids = sp.encode(text)
    i = next(k for k in range(len(tgt)) if tgt[k:k + len(ids)] == ids)
    assert all(loss[i:i + len(ids)]), "%r carries no loss" % text
PY
# Without the text-only lines every record has vision, caption and question: the automatic
# spec must be exactly '[vision],caption,question'.
grep -v '"id": "t' "$D/m.jsonl" >"$D/m2.jsonl"
"$LWM" ingest --manifest "$D/m2.jsonl" --out "$D/ds3" --vqgan "$D/tiny.safetensors" --tokenizer "$TOK" -q
"$LWM" pack "$D/ds3" --seq-len 1024 --count 3 --no-shuffle --json >"$TMP/auto.json" 2>"$TMP/auto.err"
"$LWM" pack "$D/ds3" --seq-len 1024 --count 3 --no-shuffle --json --fields '[vision],caption,question' \
    >"$TMP/explicit.json" 2>/dev/null
check pack_default_is_vision_then_text "rows differ from --fields '[vision],caption,question': $(head -c 200 "$TMP/auto.err")" \
    bash -c "[ -s '$TMP/auto.json' ] && cmp -s '$TMP/auto.json' '$TMP/explicit.json'"
"$LWM" pack "$D/ds3" --seq-len 1024 --count 3 --no-shuffle --json --fields '[caption],vision' >"$TMP/over.json" 2>/dev/null
check pack_fields_overrides "--fields gave the default rows" \
    bash -c "[ -s '$TMP/over.json' ] && ! cmp -s '$TMP/over.json' '$TMP/auto.json'"

# The Python loader: the same default, and fields= overrides it.
check python_loader_defaults "the Python Loader's rows differ from lwm pack's" $PY - "$D/ds3" "$TMP/auto.json" "$TMP/over.json" <<'PY'
import json, os, sys
sys.path.insert(0, "python")
# A sanitizer build cannot be loaded into Python (ASan must come first): the plain one then.
build = "build" if os.environ.get("SAN") == "1" else os.environ.get("LWM_BUILD", "build")
os.environ.setdefault("LWM_LIB", os.path.join(build, "liblwm.so"))
import lwm_loader
for fields, path in ((None, sys.argv[2]), ("[caption],vision", sys.argv[3])):
    want = json.loads(open(path).readline())
    with lwm_loader.Loader([sys.argv[1]], seq_len=1024, shuffle=False, fields=fields) as ld:
        b = ld.next()
    assert b["target_tokens"][0].tolist() == want["target_tokens"], (fields, "targets differ")
    assert b["loss_masks"][0].tolist() == want["loss_masks"], (fields, "loss masks differ")
PY

# lwm show says which spec a record without one is read with.
"$LWM" show "$D/ds" img >"$TMP/show.out" 2>&1
check show_names_default "$(head -c 300 "$TMP/show.out")" grep -q 'fields .*(none: vision without loss' "$TMP/show.out"

# train with the shipped config: its "data" names neither tokenizer nor fields spec.
"$LWM" train --config configs/tiny.json --data "$D/ds" --steps 1 --out "$D/run" --quiet \
    >"$TMP/train.out" 2>"$TMP/train.err"
rc=$?
check train_shipped_config "exit $rc: $(tail -c 300 "$TMP/train.err")" test $rc -eq 0
check train_logged_a_step "no step in log.jsonl" $PY -c '
import json, math, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert len(rows) == 1 and math.isfinite(rows[0]["loss"]), rows
' "$D/run/log.jsonl"

# ingest --fields: recorded as the dataset's default (pack uses it, an explicit --fields still
# wins), and a rerun asking for another one is refused.
expect_ok ingest_fields "$LWM" ingest --manifest "$D/m2.jsonl" --out "$D/ds2" --vqgan "$D/tiny.safetensors" \
    --tokenizer "$TOK" --fields '[caption],vision' -q
"$LWM" pack "$D/ds2" --seq-len 1024 --count 2 --no-shuffle --json >"$TMP/ds2.json" 2>"$TMP/ds2.err"
"$LWM" pack "$D/ds2" --seq-len 1024 --count 2 --no-shuffle --json --fields '[caption],vision' >"$TMP/ds2_same.json" 2>/dev/null
"$LWM" pack "$D/ds2" --seq-len 1024 --count 2 --no-shuffle --json --fields '[vision],caption' >"$TMP/ds2_other.json" 2>/dev/null
check pack_uses_recorded_fields "$(head -c 200 "$TMP/ds2.err")" cmp -s "$TMP/ds2.json" "$TMP/ds2_same.json"
check pack_fields_beats_recorded "--fields did not override the recorded spec" \
    bash -c "! cmp -s '$TMP/ds2.json' '$TMP/ds2_other.json'"
run_rc() { "$@" >"$TMP/rc.out" 2>"$TMP/rc.err"; echo $?; }
rc=$(run_rc "$LWM" ingest --manifest "$D/m2.jsonl" --out "$D/ds2" --fields '[vision],caption' -q)
check rerun_other_fields_refused "exit $rc: $(head -c 300 "$TMP/rc.err")" \
    bash -c "[ $rc -eq 2 ] && grep -q \"ingested with --fields '\[caption\],vision', this run asks for --fields '\[vision\],caption'\" '$TMP/rc.err'"
