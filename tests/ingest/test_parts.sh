# Corpus building in parts: `lwm ingest --part K/N` on line ranges, `lwm merge`,
# and `mpirun -np 2 lwm ingest`, each against a single-process ingest of the
# same manifest (packed rows byte-identical, verify clean, counts summed);
# SIGKILL of a part and of a merge; every merge refusal; bad --part values;
# --retry-failed; per-record provenance checked against Python's xxhash.
SUITE=ingest/parts
. tests/lib.sh
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
D=$TMP/parts
mkdir -p "$D/media"
ff() { ffmpeg -nostdin -v error -y "$@"; }
"$LWM" vqgan init --preset tiny --seed 7 --out "$D/w.safetensors" >/dev/null
"$LWM" vqgan init --preset tiny --seed 8 --out "$D/w8.safetensors" >/dev/null
for i in $(seq 40); do echo "clip <vision> </vision> text sample $i pre caption"; done >"$D/corpus.txt"
spm_train --input="$D/corpus.txt" --model_prefix="$D/tok" --vocab_size=60 \
    --hard_vocab_limit=false --minloglevel=2 >/dev/null 2>&1
{
    for i in 0 1 2 3 4 5 6; do
        ff -f lavfi -i "testsrc2=s=160x120:r=10:d=1.2" -vf "hue=h=$((i * 40))" -c:v libx264 \
            -pix_fmt yuv420p "$D/media/v$i.mp4"
        echo "{\"id\": \"v$i\", \"video\": \"media/v$i.mp4\", \"caption\": \"clip $i\", \"fields\": \"[vision],caption\"}"
        echo "{\"id\": \"t$i\", \"text\": \"text sample $i\", \"fields\": \"text\"}"
        [ "$i" = 2 ] && echo ""
        [ "$i" = 3 ] && echo '{"id": "bad", "video": "media/missing.mp4", "caption": "x", "fields": "[vision],caption"}'
    done
    echo "{\"id\": \"codes\", \"vision\": [$(seq -s, 0 255)], \"caption\": \"pre\", \"fields\": \"[vision],caption\"}"
} >"$D/m.jsonl"
ingest() { "$LWM" ingest --manifest "$D/m.jsonl" --max-frames 3 --vqgan "$D/w.safetensors" -q "$@"; }
pack() { "$LWM" pack "$1" --tokenizer "$D/tok.model" --seq-len 1024 --no-shuffle --json "${@:2}" 2>/dev/null; }
same_pack() { # name dir: contiguous and LWM layouts byte-identical to the reference
    pack "$2" >"$TMP/$1.pack" && pack "$2" --layout lwm >"$TMP/$1.lwm" &&
        [ -s "$TMP/$1.pack" ] && cmp -s "$TMP/$1.pack" "$TMP/ref.pack" && cmp -s "$TMP/$1.lwm" "$TMP/ref.lwm"
}
count() { "$LWM" inspect "$1" --json | $PY -c "import json,sys; d=json.load(sys.stdin); print(d['samples'], d['failed'], d['frames'])"; }

ingest --out "$D/ref" >/dev/null 2>&1
pack "$D/ref" >"$TMP/ref.pack"; pack "$D/ref" --layout lwm >"$TMP/ref.lwm"
check reference_packs "no rows packed from the reference" test -s "$TMP/ref.pack"

# Three parts, merged given out of order.
for k in 0 1 2; do ingest --out "$D/p$k" --part $k/3 >/dev/null 2>&1; done
check parts_split_lines "part line ranges do not tile the manifest" $PY - "$D" <<'EOF'
import json, sys
d = sys.argv[1]
g = [json.load(open(f"{d}/p{k}/manifest.json"))["info"]["origin"] for k in range(3)]
L = g[0]["source_lines"]
assert [x["first_line"] for x in g] == [1 + k * L // 3 for k in range(3)], g
assert [x["end_line"] for x in g] == [1 + (k + 1) * L // 3 for k in range(3)], g
assert all(x["complete"] and x["parts"] == 3 for x in g), g
EOF
expect_ok merge_three "$LWM" merge "$D/p2" "$D/p0" "$D/p1" --out "$D/merged" --json
check merge_same_rows "merged pack differs from a single ingest" same_pack merged "$D/merged"
expect_ok merge_verify "$LWM" verify "$D/merged"
check merge_counts "inspect of the merge is not the sum of the parts" \
    test "$(count "$D/merged")" = "$(count "$D/ref")"
check merge_links_not_copies "merged shards are not hard links of the parts' files" \
    test "$(stat -c %h "$D/merged/shard-00000.mdb")" -ge 2
expect_ok merge_rerun_noop "$LWM" merge "$D/p0" "$D/p1" "$D/p2" --out "$D/merged" --json
check merge_rerun_says_done "re-run did not report an earlier merge" grep -q '"already_merged":true' "$TMP/merge_rerun_noop.out"
check show_part "show of a merged record does not name its part" \
    sh -c "'$LWM' show '$D/merged' v6 --json | grep -q '\"part\":2'"

# Provenance: the source's size and XXH3-128, against Python's xxhash.
check provenance "source size or hash differs from xxhash's" $PY - "$LWM" "$D" <<'EOF'
import json, os, subprocess, sys, xxhash
lwm, d = sys.argv[1:]
s = json.loads(subprocess.check_output([lwm, "show", f"{d}/merged", "v3", "--json"]))
f = f"{d}/media/v3.mp4"
assert s["source_bytes"] == os.path.getsize(f), s
assert s["source_xxh3"] == xxhash.xxh3_128_hexdigest(open(f, "rb").read()), s
EOF

# SIGKILL of a part midway, re-run, merge: identical.
# (lwm itself in the background, not a shell function, so kill -9 reaches it)
"$LWM" ingest --manifest "$D/m.jsonl" --max-frames 3 --vqgan "$D/w.safetensors" -q \
    --out "$D/k1" --part 1/3 --commit-every 1 >/dev/null 2>&1 &
pid=$!
for _ in $(seq 200); do [ -e "$D/k1/shard-00000.open.mdb" ] && break; sleep 0.02; done
kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
expect_fail merge_refuses_killed_part "unfinished" "$LWM" merge "$D/p0" "$D/k1" "$D/p2" --out "$D/mk"
ingest --out "$D/k1" --part 1/3 >/dev/null 2>&1
expect_ok merge_after_kill "$LWM" merge "$D/p0" "$D/k1" "$D/p2" --out "$D/mk"
check killed_part_same_rows "merge after a killed part differs" same_pack mk "$D/mk"

# SIGKILL of merges at many moments (and a stale file from another attempt): the re-run completes.
for delay in 0.001 0.003 0.006 0.01 0.02; do
    rm -rf "$D/mm"; mkdir -p "$D/mm"; ln "$D/p2/manifest.json" "$D/mm/shard-00009.mdb"
    timeout -s KILL $delay "$LWM" merge "$D/p0" "$D/p1" "$D/p2" --out "$D/mm" >/dev/null 2>&1
    "$LWM" merge "$D/p0" "$D/p1" "$D/p2" --out "$D/mm" >/dev/null 2>&1 || break
done
check merge_killed_rerun "a merge killed and re-run differs" same_pack mm "$D/mm"
check merge_killed_no_stale "a stale shard of another attempt survived" test ! -e "$D/mm/shard-00009.mdb"

# Refusals: a one-line reason, exit != 0, inputs untouched.
snapshot() { (cd "$D" && find p0 p1 p2 -type f ! -name writer.lock -exec sha256sum {} + | sort); }
snapshot >"$TMP/before"
ingest --out "$D/w8p1" --part 1/3 --vqgan "$D/w8.safetensors" >/dev/null 2>&1
expect_fail refuse_weights "VQGAN weights" "$LWM" merge "$D/p0" "$D/w8p1" "$D/p2" --out "$D/r1"
ingest --out "$D/fps1" --part 1/3 --fps 2 >/dev/null 2>&1
expect_fail refuse_settings "ingest settings" "$LWM" merge "$D/p0" "$D/fps1" "$D/p2" --out "$D/r2"
spm_train --input="$D/corpus.txt" --model_prefix="$D/tok2" --vocab_size=50 \
    --hard_vocab_limit=false --minloglevel=2 >/dev/null 2>&1
ingest --out "$D/tokp1" --part 1/3 --tokenizer "$D/tok2.model" >/dev/null 2>&1
expect_fail refuse_tokenizer "tokenizer_xxh3.*not parts of one corpus" "$LWM" merge "$D/p0" "$D/tokp1" "$D/p2" --out "$D/r7"
expect_fail refuse_missing_part "2 were given|missing" "$LWM" merge "$D/p0" "$D/p2" --out "$D/r3"
expect_fail refuse_twice_part "given twice" "$LWM" merge "$D/p0" "$D/p0" "$D/p2" --out "$D/r4"
expect_fail refuse_not_dataset "not a dataset" "$LWM" merge "$D/p0" "$D/media" "$D/p2" --out "$D/r5"
expect_fail refuse_nonempty_out "not empty" "$LWM" merge "$D/p0" "$D/p1" "$D/p2" --out "$D/media"
sed 's/"id": "t5"/"id": "t0"/' "$D/m.jsonl" >"$D/dup.jsonl"
for k in 0 1 2; do
    "$LWM" ingest --manifest "$D/dup.jsonl" --max-frames 3 --vqgan "$D/w.safetensors" -q \
        --out "$D/d$k" --part $k/3 >/dev/null 2>&1
done
expect_fail refuse_duplicate_id 'sample id "t0" is in part' "$LWM" merge "$D/d0" "$D/d1" "$D/d2" --out "$D/r6"
snapshot >"$TMP/after"
check refusals_leave_parts "a refused merge changed a part" cmp -s "$TMP/before" "$TMP/after"
check refusals_write_nothing "a refused merge left a dataset behind" \
    sh -c "! ls '$D'/r[1-7]/manifest.json 2>/dev/null | grep -q ."
expect_fail refuse_other_part "part 1/3" ingest --out "$D/p0" --part 1/3

# Bad --part values.
for v in 3/3 -1/2 a/b 1/0 1 1/2x; do
    expect_fail "bad_part_${v//\//_}" "--part" ingest --out "$D/bad" --part "$v"
done

# --retry-failed: the missing file appears; only it is retried.
cp -r "$D/ref" "$D/retry"
cp "$D/media/v0.mp4" "$D/media/missing.mp4"
ingest --out "$D/retry" >"$TMP/plain.out" 2>&1
check rerun_skips_failed "a plain re-run retried the failed sample" \
    test "$(count "$D/retry")" = "$(count "$D/ref")"
ingest --out "$D/retry" --retry-failed --json >"$TMP/retry.json" 2>/dev/null
check retry_stores "--retry-failed did not store the repaired sample: $(cat "$TMP/retry.json")" \
    $PY -c "import json,sys; d=json.load(open(sys.argv[1])); assert d['ok']==1 and d['failed']==0, d" "$TMP/retry.json"
check retry_no_failures "the repaired sample is still listed as failed" \
    sh -c "'$LWM' inspect '$D/retry' --json | grep -q '\"failed\":0'"
rm -f "$D/media/missing.mp4"

# Under Open MPI: two ranks, two parts, merged into DIR.
mpirun --allow-run-as-root --oversubscribe -np 2 -x OMP_NUM_THREADS=1 \
    "$LWM" ingest --manifest "$D/m.jsonl" --max-frames 3 --vqgan "$D/w.safetensors" -q \
    --out "$D/mpi" >"$TMP/mpi.out" 2>"$TMP/mpi.err"
check mpirun_exit_1 "mpirun ingest: exit $? (want 1: one bad line): $(tail -c 300 "$TMP/mpi.err")" \
    grep -q "merged 2 parts" "$TMP/mpi.out"
check mpirun_same_rows "mpirun -np 2 differs from a single ingest" same_pack mpi "$D/mpi"
expect_ok mpirun_verify "$LWM" verify "$D/mpi"

# Killed while creating the dataset (the manifest's temporary file written, not
# yet renamed): the re-run creates it instead of calling the directory foreign.
mkdir -p "$D/born" && echo '{"half":' >"$D/born/manifest.json.tmp.4242"
ingest --out "$D/born" >/dev/null 2>"$TMP/born.err"
check killed_at_creation_rerun "a re-run after a kill at creation differs: $(tail -c 300 "$TMP/born.err")" \
    same_pack born "$D/born"

# A rank that cannot work (its part directory is a file) stops the job with its
# reason; the other part stays resumable and nothing is merged.
mkdir -p "$D/mpifail/parts" && echo x >"$D/mpifail/parts/part-1-of-2"
mpirun --allow-run-as-root --oversubscribe -np 2 -x OMP_NUM_THREADS=1 \
    "$LWM" ingest --manifest "$D/m.jsonl" --max-frames 3 --vqgan "$D/w.safetensors" -q \
    --out "$D/mpifail" >"$TMP/mpifail.out" 2>"$TMP/mpifail.err"
rc=$?
check mpirun_rank_failure_exit "a failed rank did not fail the job (rc $rc)" test "$rc" -ne 0
check mpirun_rank_failure_reason "no reason naming the part directory: $(tail -c 300 "$TMP/mpifail.err")" \
    sh -c "grep -q 'part-1-of-2' '$TMP/mpifail.err' && grep -q 'rank 1 stops the job' '$TMP/mpifail.err'"
check mpirun_rank_failure_no_merge "a failed job merged" test ! -e "$D/mpifail/manifest.json"
rm "$D/mpifail/parts/part-1-of-2"
mpirun --allow-run-as-root --oversubscribe -np 2 -x OMP_NUM_THREADS=1 \
    "$LWM" ingest --manifest "$D/m.jsonl" --max-frames 3 --vqgan "$D/w.safetensors" -q \
    --out "$D/mpifail" >"$TMP/mpifail2.out" 2>"$TMP/mpifail2.err"
check mpirun_rank_failure_rerun "the re-run after a failed rank differs: $(tail -c 300 "$TMP/mpifail2.err")" same_pack mpifail "$D/mpifail"

# The Python reader reads the merge as the C reader does.
check python_reads_merge "lwm_shard.Dataset disagrees with lwm show on the merge" $PY - "$LWM" "$D" <<'EOF2'
import json, subprocess, sys
sys.path.insert(0, "python")
import lwm_shard
lwm, d = sys.argv[1:]
ds = lwm_shard.Dataset(f"{d}/merged")
for i in range(len(ds)):
    c = json.loads(subprocess.check_output([lwm, "show", f"{d}/merged", str(i), "--index", "--json"]))
    s = ds[i]
    assert s["id"] == c["id"] and s["source_xxh3"] == c["source_xxh3"], (s["id"], c["id"])
    assert ds.find(s["id"])["index"] == i
assert [f[0] for f in ds.failures()] == ["bad"], ds.failures()
EOF2
