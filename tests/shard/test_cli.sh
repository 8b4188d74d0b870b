# The store's commands (inspect, show, verify, ls) on a fixture dataset written
# through the C API (tests/shard/test_fixture_tool). Expected numbers are
# derived from the fixture's formulas in Python, not from our output.
SUITE=shard/cli
. tests/lib.sh
TOOL=${LWM_BUILD:-build}/tests/shard/test_fixture_tool
D=$TMP/cli_ds
rm -rf "$D"
"$TOOL" --write "$D" 50 20000 || { not_ok setup "fixture tool failed"; exit 1; }

# What the fixture holds: frames(n) = 0 if n%5==0 else n%7+1; codes (n*977+f*131+p*7)%8192.
read -r WANT_FRAMES WANT_IMAGES WANT_ENTROPY WANT_MAX_TOKENS <<<"$($PY - <<'PY'
import numpy as np
fr = [0 if n % 5 == 0 else n % 7 + 1 for n in range(50)]
max_tokens = max(fr[n] * 256 + (16 if n % 2 else 0) for n in range(50))
codes = np.concatenate([((n*977 + f*131 + p*7) % 8192) for n in range(50) for f in range(fr[n]) for p in [np.arange(256)]])
c = np.bincount(codes, minlength=8192); p = c[c > 0] / c.sum()
print(sum(fr), sum(1 for f in fr if f == 1), float(-(p * np.log2(p)).sum()), max_tokens)
PY
)"

expect_ok inspect_json $LWM inspect "$D" --json --quiet
check inspect_counts "inspect --json counts differ from the fixture: $(head -c 300 "$TMP/inspect_json.out")" \
    $PY -c "
import json, sys
j = json.load(open('$TMP/inspect_json.out'))
ok = (j['samples'] == 50 and j['frames'] == $WANT_FRAMES and j['vision_tokens'] == 256 * $WANT_FRAMES
      and j['failed'] == 2 and j['by_modality']['image'] == $WANT_IMAGES
      and abs(j['codebook']['entropy_bits'] - $WANT_ENTROPY) < 1e-9 and len(j['shards']) > 2
      and j['vqgan']['untrained'] is True and j['failures'][0]['id'] == 'broken.mp4'
      and j['tokens_per_sample']['max'] == $WANT_MAX_TOKENS
      and sum(b['samples'] for b in j['tokens_per_sample']['histogram']) == 50)
sys.exit(0 if ok else 1)"
expect_ok inspect_human $LWM inspect "$D" --quiet
check inspect_human_names_failures "no failure line" grep -q 'broken.mp4 (line 51)' "$TMP/inspect_human.out"

expect_ok show_json $LWM show "$D" sample-000003 --json
check show_codes "show --json codes differ" $PY -c "
import json, sys
j = json.load(open('$TMP/show_json.out'))
ok = (j['id'] == 'sample-000003' and j['frames'] == 4 and len(j['codes']) == 4
      and j['codes'][1][5] == (3*977 + 1*131 + 5*7) % 8192 and j['timestamps'][2] == 4.0
      and j['texts'][0]['tokens'][0] == 300 and j['fields'] == '[vision],caption')
sys.exit(0 if ok else 1)"
expect_ok show_by_index $LWM show "$D" 7 --index
check show_by_index_id "show --index 7 is not sample 7" grep -q 'sample-000007' "$TMP/show_by_index.out"
expect_fail show_unknown_id 'no sample with id "nope"' $LWM show "$D" nope

expect_ok ls_images $LWM ls "$D" --modality image --json
check ls_filters "ls --modality image lists the wrong samples" $PY -c "
import json, sys
ids = [s['id'] for s in json.load(open('$TMP/ls_images.out'))['samples']]
sys.exit(0 if ids == ['sample-%06d' % n for n in range(50) if n % 5 and n % 7 == 0] else 1)"
expect_fail ls_bad_modality 'expected text, image or video' $LWM ls "$D" --modality audio

expect_ok verify_clean $LWM verify "$D" --quiet
cp -r "$D" "$TMP/cli_bad"
$PY - "$TMP/cli_bad/shard-00002.mdb" <<'PY'
import sys
p = sys.argv[1]; b = bytearray(open(p, 'rb').read())
b[len(b) // 2] ^= 0xff       # somewhere in the middle of the shard
open(p, 'wb').write(bytes(b))
PY
expect_fail verify_damaged 'shard-00002.mdb' $LWM verify "$TMP/cli_bad" --quiet
expect_fail verify_json_damaged 'problem' $LWM verify "$TMP/cli_bad" --json --quiet
check verify_json_lists_problems "verify --json lacks problems" $PY -c "
import json, sys
j = json.load(open('$TMP/verify_json_damaged.out'))
sys.exit(0 if not j['ok'] and j['problems'] and j['problems'][0]['shard'] == 'shard-00002.mdb' else 1)"

# One LMDB page's flags byte damaged (page 3 of a sealed shard, after every
# command has read the clean dataset so the verified-shard cache knows it): LMDB
# would abort (rc 134) on it; every command must refuse it in one line instead,
# and verify must report it and still check the other shards.
rm -rf "$TMP/cli_page"
cp -r "$D" "$TMP/cli_page"
$LWM show "$TMP/cli_page" 20 --index >/dev/null 2>&1
check cache_written "no verified-shard cache under \$LWM_CACHE_DIR" test -s "$LWM_CACHE_DIR/verified-shards"
$PY - "$TMP/cli_page/shard-00001.mdb" "$TMP/cli_page/shard-00004.mdb" <<'PY'
import sys
for p in sys.argv[1:]:
    b = bytearray(open(p, 'rb').read())
    b[3 * 4096 + 10] ^= 0xff  # the page header's flags
    open(p, 'wb').write(bytes(b))
PY
expect_fail page_flags_show 'shard-00001.mdb: shard file is damaged' $LWM show "$TMP/cli_page" 20 --index
expect_fail page_flags_inspect 'shard-00001.mdb: shard file is damaged' $LWM inspect "$TMP/cli_page"
expect_fail page_flags_ls 'shard-00001.mdb: shard file is damaged' $LWM ls "$TMP/cli_page"
expect_fail page_flags_verify '2 problems found' $LWM verify "$TMP/cli_page" --json --quiet
check page_flags_verify_reports_all "verify --json does not list both damaged shards alone: $(head -c 300 "$TMP/page_flags_verify.out")" $PY -c "
import json, sys
j = json.load(open('$TMP/page_flags_verify.out'))
sys.exit(0 if [p['shard'] for p in j['problems']] == ['shard-00001.mdb', 'shard-00004.mdb'] else 1)"

rm "$TMP/cli_bad/shard-00001.mdb"
expect_fail inspect_missing_shard 'shard-00001.mdb: shard file is missing' $LWM inspect "$TMP/cli_bad"
expect_fail inspect_not_a_dataset 'not a dataset' $LWM inspect "$TMP"
expect_fail inspect_no_dir 'missing DIR' $LWM inspect
sed -i 's/"schema":\t1/"schema":\t3/' "$TMP/cli_bad/manifest.json"
expect_fail verify_newer_schema 'schema version 3 is newer' $LWM verify "$TMP/cli_bad"

# A dataset whose writer stopped without closing (crash or live writer): the open shard is read too.
rm -rf "$TMP/cli_open"
"$TOOL" --write "$TMP/cli_open" 30 1000000000 --open
expect_ok inspect_open $LWM inspect "$TMP/cli_open" --json --quiet
check inspect_open_counts "open shard not counted" $PY -c "
import json, sys
j = json.load(open('$TMP/inspect_open.out'))
sys.exit(0 if j['samples'] == 30 and j['failed'] == 2 and j['shards'][-1]['sealed'] is False else 1)"
expect_ok verify_open $LWM verify "$TMP/cli_open" --quiet
