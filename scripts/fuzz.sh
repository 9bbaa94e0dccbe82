#!/usr/bin/env bash
# Fuzzes probe's parsers with cargo-fuzz (libFuzzer), each target for a bounded time, from a
# scratch copy of the committed seeds in fuzz/seeds/. Exits non-zero when a target crashes,
# panics, runs out of memory or hangs, naming the input that did it. See fuzz/README.md.
#
#   scripts/fuzz.sh                 every target, PROBE_FUZZ_SECS (60) seconds each
#   scripts/fuzz.sh targets yaml_config
#   PROBE_FUZZ_SECS=300 scripts/fuzz.sh aws_import
#
# Works on the stable toolchain: RUSTC_BOOTSTRAP=1 lets stable rustc take the unstable flags
# cargo-fuzz passes (-Zsanitizer=address and the coverage instrumentation). The build goes to
# ${CARGO_TARGET_DIR:-target}/fuzz, the scratch corpora to .../fuzz/corpus, crashing inputs to
# fuzz/artifacts/TARGET/ (git-ignored).
set -euo pipefail

cd "$(dirname "$0")/.."
repo=$PWD
secs=${PROBE_FUZZ_SECS:-60}
cargo_fuzz_version=0.13.2
out=${CARGO_TARGET_DIR:-$repo/target}/fuzz
all=(yaml_config aws_import huawei_import targets icmp_packet)
if [ $# -gt 0 ]; then
    selected=("$@")
else
    selected=("${all[@]}")
fi

# The longest input each target is given: a configuration or an import directory (the AWS
# fixture is 34 KB), a targets file, one packet (an Ethernet MTU; the first 17 bytes choose the
# socket and the sender).
max_len() {
    case $1 in
    yaml_config | aws_import | huawei_import) echo 65536 ;;
    targets) echo 4096 ;;
    icmp_packet) echo 1517 ;;
    *)
        echo "fuzz.sh: unknown target $1 (targets: ${all[*]})" >&2
        exit 2
        ;;
    esac
}
for t in "${selected[@]}"; do max_len "$t" >/dev/null; done

export RUSTC_BOOTSTRAP=1
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz $cargo_fuzz_version"
    cargo install --locked cargo-fuzz --version "$cargo_fuzz_version"
fi

# One build for every target; `cargo fuzz run` below finds it up to date. The default build is
# optimised with debug assertions and overflow checks, under AddressSanitizer.
flags=(--target-dir "$out")
cargo fuzz build "${flags[@]}"

failed=()
mkdir -p "$out/logs"
for t in "${selected[@]}"; do
    corpus=$out/corpus/$t
    log=$out/logs/$t.log
    rm -rf "$corpus"
    mkdir -p "$corpus"
    cp fuzz/seeds/"$t"/* "$corpus"/
    echo "fuzz.sh: $t for ${secs}s ($(ls "$corpus" | wc -l) seeds, log $log)"
    # -timeout: an input that takes longer than 10 s is a hang and fails the run.
    # cargo fuzz run puts crashing inputs in fuzz/artifacts/TARGET/.
    args=(-max_total_time="$secs" -rss_limit_mb=2048 -max_len="$(max_len "$t")" -timeout=10
        -print_final_stats=1)
    if [ -f "fuzz/dicts/$t.dict" ]; then
        args+=(-dict="fuzz/dicts/$t.dict")
    fi
    if cargo fuzz run "${flags[@]}" "$t" "$corpus" -- "${args[@]}" >"$log" 2>&1; then
        grep -E '^#[0-9]+[[:space:]]+DONE|stat::(average_exec_per_sec|peak_rss_mb)' "$log" |
            sed "s/^/  $t: /" || true
    else
        failed+=("$t")
        echo "fuzz.sh: $t FAILED; from $log:" >&2
        grep -m 1 -A 4 -E "panicked at|==[0-9]+==ERROR|ERROR: libFuzzer" "$log" >&2 || tail -n 20 "$log" >&2
        artifact=$(grep -oE '(Test unit|artifact) written to [^ ]+' "$log" | tail -n 1 | awk '{print $NF}' || true)
        if [ -n "$artifact" ]; then
            echo "fuzz.sh: the input: $artifact" >&2
            echo "fuzz.sh: reproduce: RUSTC_BOOTSTRAP=1 cargo fuzz run --target-dir $out $t $artifact" >&2
            echo "fuzz.sh: then fix the parser, add the input as a regression test beside it and to fuzz/seeds/$t/ (fuzz/README.md)" >&2
        fi
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz.sh: failed: ${failed[*]}" >&2
    exit 1
fi
echo "fuzz.sh: ${selected[*]}: no crash in ${secs}s each"
