#!/usr/bin/env bash
# The test command: sets up a fresh Debian machine (as root) and runs every check CI runs.
#
#   bash scripts/test.sh
#
# Installs the system packages the network lab needs (Prometheus and promtool among them: the
# agent's tests run a real Prometheus server; GNU time measures the probe's peak memory in the
# hostile-peer tests; systemd for systemd-analyze, which the deploy/ checks run; jq, python3-venv
# and, into virtual environments, moto's server and the AWS CLI for tests/it/moto.rs and the
# Huawei SDK that tests/fixtures/huawei/sdk/ is checked against; shellcheck for
# scripts/dump-aws.sh), then: rustfmt, clippy, the Huawei SDK fixture check, the unit and
# integration tests (the lab tests build network namespaces, so they need root), the agent soak
# (alone, 90 s), the doctests, the deploy/ checks (promtool check
# config/rules/test rules, systemd-analyze verify and security, every YAML/JSON file; none may
# skip), the fuzz targets (scripts/fuzz.sh, 60 s each), the scale benchmark of
# benches/README.md through benches/run.sh (it installs nmap, fping and blackbox_exporter, and
# fails if probe misclassifies a target or a measurement is broken), and the evaluator benchmark
# (criterion, a short run: flow evaluations per second at 1,000 rules).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(nftables iproute2 nginx-light openssl ca-certificates nmap curl prometheus python3-yaml time systemd
  jq python3-venv shellcheck chromium chromium-driver fonts-dejavu-core)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" -ne 0 ]; then
    echo "scripts/test.sh: need root to install: ${missing[*]}" >&2
    exit 2
  fi
  echo "installing: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Lab namespaces are named plab-<pid>-…; remove those whose test process is gone (a run killed
# before its teardown), now and on exit.
remove_stale_namespaces() {
  ip netns list 2>/dev/null | awk '{print $1}' | while read -r ns; do
    case "$ns" in
      plab-*)
        pid=${ns#plab-}; pid=${pid%%-*}
        if [ ! -d "/proc/$pid" ]; then ip netns del "$ns" 2>/dev/null || true; fi
        ;;
    esac
  done
}
remove_stale_namespaces
trap remove_stale_namespaces EXIT

# tests/it/moto.rs runs scripts/dump-aws.sh against moto's server (a local imitation of the AWS
# API, on loopback) with the AWS CLI: both from PyPI at the versions of
# scripts/moto-requirements.txt, in a virtual environment under the target directory, made again
# only when that file changes. The test finds it through PROBE_TEST_PYENV.
target_dir=${CARGO_TARGET_DIR:-target}
mkdir -p "$target_dir"
PROBE_TEST_PYENV="$(cd "$target_dir" && pwd)/pyenv"
export PROBE_TEST_PYENV
if ! cmp -s scripts/moto-requirements.txt "$PROBE_TEST_PYENV/moto-requirements.txt"; then
  echo "installing moto and the AWS CLI into $PROBE_TEST_PYENV"
  rm -rf "$PROBE_TEST_PYENV"
  python3 -m venv "$PROBE_TEST_PYENV"
  # --no-compile: byte-compiling all of moto's services takes longer than installing them; the
  # test compiles the few modules it imports on first use.
  "$PROBE_TEST_PYENV/bin/pip" install --quiet --disable-pip-version-check --no-input --no-compile \
    -r scripts/moto-requirements.txt
  cp scripts/moto-requirements.txt "$PROBE_TEST_PYENV/moto-requirements.txt"
fi

cargo fmt --all -- --check
shellcheck scripts/dump-aws.sh
cargo clippy --locked --all-targets -- -D warnings
# The Huawei fixtures generated from Huawei's SDK response models (tests/fixtures/huawei/sdk/)
# must still be what the pinned SDK gives: a virtual environment under target/ holds it (a few
# seconds once installed); tests/it finds it there too (huawei_sdk_fixtures_match_the_sdk).
sdk_venv=target/huawei-sdk-venv
[ -x "$sdk_venv/bin/python" ] || python3 -m venv "$sdk_venv"
# shellcheck disable=SC2046 # one argument per pinned package
"$sdk_venv/bin/pip" install -q --disable-pip-version-check $(python3 scripts/huawei-fixtures.py --requirements)
"$sdk_venv/bin/python" scripts/huawei-fixtures.py --check
# The agent soak (tests/it/soak.rs) is ignored in the parallel run: it loads the machine for its
# whole length, so it runs alone afterwards (PROBE_SOAK_SECS, default 90).
if command -v cargo-nextest >/dev/null 2>&1; then
  cargo nextest run --locked --no-fail-fast
  cargo nextest run --locked --test it --run-ignored only soak
else
  cargo test --locked --no-fail-fast
  cargo test --locked --test it soak -- --ignored
fi
cargo test --locked --doc
# Every parser of outside input under libFuzzer for PROBE_FUZZ_SECS (60) s each, from the
# committed seeds (fuzz/README.md); installs cargo-fuzz on first use.
PROBE_FUZZ_SECS="${PROBE_FUZZ_SECS:-60}" bash scripts/fuzz.sh
# CI=true: a deploy/ check that cannot run here fails instead of printing "skip".
CI=true PROBE_BIN="$PWD/target/debug/probe" bash scripts/check-deploy.sh
PROBE_BENCH_RUNS="${PROBE_BENCH_RUNS:-3}" bash benches/run.sh
# Ten seconds each: a short window on a shared host measures its neighbours as much as the code.
cargo bench --locked --bench evaluator -- --warm-up-time 2 --measurement-time 10 evaluate
