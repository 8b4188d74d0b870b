# lwm train on hostile configs (issue 15 items 3 and 6): every out-of-range or mistyped
# field is refused before anything is allocated, with one line naming the field, and that
# line is what the user sees, alone or under mpirun (not an MPI abort).
SUITE=train/bad_config
. tests/lib.sh
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
[ "${SAN:-}" = 1 ] && export ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" # Open MPI's own leaks
MPIRUN="timeout 120 mpirun --allow-run-as-root --oversubscribe --bind-to none -x OMP_NUM_THREADS -x OPENBLAS_NUM_THREADS"

# A config with one field replaced: section, field, JSON value.
variant() {
    $PY - "$TMP/$1.json" "$2" "$3" "$4" <<'PYEOF'
import json, sys
path, section, key, value = sys.argv[1:]
c = json.load(open("configs/tiny.json"))
(c if section == "-" else c[section])[key] = json.loads(value)
c["data"] = {"kind": "mixed"}
json.dump(c, open(path, "w"))
PYEOF
}
not_mpi_abort() { ! grep -q "MPI_ERR\|MPI_Comm_free" "$TMP/$1.err"; }

# Item 6: an error before the ring exists reaches the user, alone and under mpirun.
variant dim_string model dim '"128"'
expect_fail dim_string_plain 'config .*dim_string.json: field "dim" must be a' \
    "$LWM" train --config "$TMP/dim_string.json" --data "$TMP" --out "$TMP/run" --quiet
check dim_string_plain_no_mpi_error "$(head -c 200 "$TMP/dim_string_plain.err")" not_mpi_abort dim_string_plain
expect_fail dim_string_mpirun 'config .*dim_string.json: field "dim" must be a' \
    $MPIRUN -np 1 "$LWM" train --config "$TMP/dim_string.json" --data "$TMP" --out "$TMP/run" --quiet
check dim_string_mpirun_no_mpi_error "$(head -c 200 "$TMP/dim_string_mpirun.err")" not_mpi_abort dim_string_mpirun

# Item 3: each field out of its range (or of the wrong type) is one line naming it, and the
# process neither crashes nor trains. "-" is the top level.
while read -r name section key value pattern; do
    variant "$name" "$section" "$key" "$value"
    expect_fail "$name" "^lwm train: config .*$name.json: (field )?\"$key\" $pattern" \
        timeout 60 "$LWM" train --config "$TMP/$name.json" --data "$TMP" --out "$TMP/run_$name" --quiet
    check "${name}_one_line" "$(wc -l <"$TMP/$name.err") lines" test "$(wc -l <"$TMP/$name.err")" = 1
    check "${name}_no_run" "a run directory was made" test ! -e "$TMP/run_$name"
done <<'CASES'
text_vocab_2e32 model text_vocab 4294967295 is.4294967295,.must.be.in
vision_vocab_neg model vision_vocab -1 is.-1,.must.be.in
dim_2e32 model dim 4294967424 is.4294967424,.must.be.in
dim_string model dim "128" must.be.a.finite.number
heads_zero model heads 0 is.0,.must.be.in
ffn_2e40 model ffn_dim 1099511627776 is.1099511627776,.must.be.in
layers_257 model layers 257 is.257,.must.be.in
norm_eps_zero model norm_eps 0 is.0,.must.be.in.\(0,
norm_eps_string model norm_eps "1e-6" must.be.a.finite.number
ring_2e40 - ring 1099511627776 is.1099511627776,.must.be.in
attn_tile_2e40 train attn_tile 1099511627776 is.1099511627776,.must.be.in
chunk_zero train chunk 0 is.0,.must.be.in
max_nan_skips_2e33 train max_nan_skips 8589934592 is.8589934592,.must.be.in
rows_per_load_huge train rows_per_load 4294967296 is.4294967296,.must.be.in
checkpoint_every_neg train checkpoint_every -5 is.-5,.must.be.in
seed_fraction train seed 1.5 must.be.an.integer
beta1_two optimizer beta1 2 is.2,.must.be.in.\[0,.1\)
beta2_one optimizer beta2 1 is.1,.must.be.in.\[0,.1\)
lr_1e308 optimizer lr 1e308 is.1e\+308,.must.be.in.\(0,
lr_zero optimizer lr 0 is.0,.must.be.in.\(0,
grad_clip_zero optimizer grad_clip 0 is.0,.must.be.in.\(0,
eps_zero optimizer eps 0 is.0,.must.be.in.\(0,
weight_decay_neg optimizer weight_decay -0.1 is.-0.1,.must.be.in
warmup_string optimizer warmup_steps "10" must.be.a.finite.number
CASES

# Stage fields, and a stage that is not an object.
$PY - "$TMP" <<'PYEOF'
import json, sys
for name, stage in [("seq_len_2e40", {"seq_len": 2**40}), ("tokens_per_batch_neg", {"tokens_per_batch": -2048}),
                    ("total_tokens_2e60", {"total_tokens": 2**60}), ("rope_theta_zero", {"rope_theta": 0})]:
    c = json.load(open("configs/tiny.json"))
    c["stages"][0].update(stage)
    json.dump(c, open(f"{sys.argv[1]}/{name}.json", "w"))
c = json.load(open("configs/tiny.json"))
c["stages"][1] = 7
json.dump(c, open(f"{sys.argv[1]}/stage_number.json", "w"))
PYEOF
for name in seq_len_2e40 tokens_per_batch_neg total_tokens_2e60 rope_theta_zero; do
    expect_fail "$name" "stages\[0\]: (field )?\"${name%_*}\" is .*(must be in|out of range)" \
        timeout 60 "$LWM" train --config "$TMP/$name.json" --data "$TMP" --out "$TMP/run_$name" --quiet
done
expect_fail stage_number "stages\[1\]: not an object" \
    "$LWM" train --config "$TMP/stage_number.json" --data "$TMP" --out "$TMP/run" --quiet
