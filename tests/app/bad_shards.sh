#!/usr/bin/env bash
# A missing or truncated shard of a sharded checkpoint: `srr calibrate` and `srr eval` exit 2 with one line
# naming the shard and a tensor in it, before any work.
#
#   bad_shards.sh SRR TEXT WORKDIR
set -uo pipefail
srr=$1 text=$2 dir=$3
fail() { echo "FAIL: $*" >&2; exit 1; }
rm -rf "$dir" && mkdir -p "$dir"
"$srr" synthetic --shape llama2-7b --hidden 256 --heads 4 --kv-heads 4 --intermediate 688 --vocab 1000 --layers 4 \
  --max-shard-size 2MB --out "$dir/m" >/dev/null 2>&1 || fail "srr synthetic"
shard=model-00003-of-00004.safetensors
[ -f "$dir/m/$shard" ] || fail "no $shard"
expect() {  # expect NAME REGEX COMMAND...
  local name=$1 regex=$2
  shift 2
  "$@" >"$dir/$name.out" 2>&1
  local rc=$?
  [ $rc -eq 2 ] || { cat "$dir/$name.out"; fail "$name: exit code $rc, expected 2"; }
  grep -Eq "$regex" "$dir/$name.out" || { cat "$dir/$name.out"; fail "$name: no line matching $regex"; }
  [ "$(grep -c 'error:' "$dir/$name.out")" -eq 1 ] || { cat "$dir/$name.out"; fail "$name: not one error line"; }
  echo "$name: $(grep 'error:' "$dir/$name.out")"
}
cp "$dir/m/$shard" "$dir/shard.bak"
truncate -s $(( $(stat -c %s "$dir/m/$shard") / 2 )) "$dir/m/$shard"
expect truncated_calibrate "$shard: tensor \"model\\.layers\\.[0-9]+\\..*\" ends at byte" \
  "$srr" calibrate --model "$dir/m" --text "$text" --max-chars 5000 --ctx 64 --out "$dir/c.h5"
expect truncated_eval "$shard: tensor \"model\\.layers\\.[0-9]+\\..*\" ends at byte" \
  "$srr" eval --model "$dir/m" --text "$text" --max-chars 5000 --ctx 64
rm "$dir/m/$shard"
expect missing_calibrate "shard $shard does not exist \\(it should hold tensor \"model\\.layers\\.[0-9]+\\..*\" and [0-9]+ more\\)" \
  "$srr" calibrate --model "$dir/m" --text "$text" --max-chars 5000 --ctx 64 --out "$dir/c.h5"
expect missing_eval "shard $shard does not exist" \
  "$srr" eval --model "$dir/m" --text "$text" --max-chars 5000 --ctx 64
[ -e "$dir/c.h5" ] && fail "a calibration file was created"
rm -rf "$dir"
echo "passed"
