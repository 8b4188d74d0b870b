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
