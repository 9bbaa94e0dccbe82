#!/usr/bin/env bash
# The benchmark command: sets up a fresh Debian machine (as root) and runs the scale benchmark of
# benches/README.md — probe against nmap (-sT and -sS), fping and blackbox_exporter on the same
# 65,534-address lab, plus probe agent at 10,000 targets and its status page in headless Chromium.
#
#   bash benches/run.sh
#
# Environment: PROBE_BENCH_RUNS (runs per tool, default 3), PROBE_BENCH_AGENT_SECS (how long the
# agent is measured, default 60), PROBE_BENCH_ONLY (some of tcp,icmp,http,agent; default all).
# The table is printed and written to target/bench-sweep.md. Exits non-zero if probe
# misclassifies a target, if a measurement is broken (the agent never listens, a scrape fails, no
# probe counted) or if the lab cannot be built; timings are reported against the targets, never
# asserted.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "benches/run.sh: run as root: the lab builds network namespaces and nmap -sS needs raw sockets" >&2
  exit 2
fi
packages=(nftables iproute2 nginx-light nmap fping prometheus-blackbox-exporter time chromium chromium-driver
  fonts-dejavu-core)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  apt-get update -qq
  # policy-rc.d keeps Debian from starting the blackbox_exporter service: the benchmark runs its
  # own copy inside the lab.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

cargo bench --locked --bench sweep
