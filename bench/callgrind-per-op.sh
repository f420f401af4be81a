#!/bin/bash
# Instructions per op of a bench binary, without start-up and exit: runs
# `BIN WORKLOAD N` and `BIN WORKLOAD 2N` under callgrind and prints
# (Ir(2N) - Ir(N)) / N. Usage: callgrind-per-op.sh BIN WORKLOAD N [VAR=VALUE...]
# (the VAR=VALUE pairs go to the environment of both runs).
set -eu
bin=$1; w=$2; n=$3; shift 3
envs=("$@")
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
ir() {
    env "${envs[@]}" valgrind --tool=callgrind --callgrind-out-file="$out/cg.%p" "$bin" "$w" "$1" >/dev/null 2>&1
    awk '/^totals/ {s += $2} END {print s}' "$out"/cg.*
    rm -f "$out"/cg.*
}
a=$(ir "$n"); b=$(ir $((2 * n)))
echo "$(basename "$bin") $w ${envs[*]} per_op=$(echo "scale=2; ($b - $a) / $n" | bc)"
