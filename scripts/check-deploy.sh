#!/usr/bin/env bash
# Validates everything under deploy/ without a cluster, a container engine or a running systemd:
#
#   bash scripts/check-deploy.sh
#
# Needs promtool (Debian package `prometheus`), python3 with PyYAML (`python3-yaml`) and
# systemd-analyze with `--offline` (package `systemd`, version 250 or later; Debian 12 has 252);
# scripts/test.sh installs them. Run as root, this script installs whichever is missing itself
# (apt-get update, then apt-get install). Installing `prometheus` on a host that runs systemd
# also starts prometheus.service; remove it afterwards if you only wanted promtool. A built probe
# binary (PROBE_BIN, or release/probe, or debug/probe under $CARGO_TARGET_DIR, default target/) is used to validate the
# configurations embedded in the Kubernetes manifests.
#
# One line per check: ok, FAIL (with the tool's output indented below) or skip. A check is
# skipped only when this machine cannot run it (a systemd without `--offline`, no built binary),
# and with CI=true (scripts/test.sh sets it) a skip is a failure: what CI promises to check, it
# checks. Exits 1 if any check failed, 2 if a tool is missing and cannot be installed.
set -euo pipefail
cd "$(dirname "$0")/.."

# --- Tools -------------------------------------------------------------------------------------------
missing=()
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
{ command -v python3 >/dev/null 2>&1 && python3 -c 'import yaml' 2>/dev/null; } || missing+=(python3-yaml)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
if ((${#missing[@]})); then
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "scripts/check-deploy.sh: missing ${missing[*]}; install them (as root: apt-get install ${missing[*]})" >&2
    exit 2
  fi
  echo "installing: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# A built probe binary, if there is one: systemd-analyze verify runs the unit against it, and the
# ConfigMaps' configurations go through its `validate`.
probe_bin=""
target_dir=${CARGO_TARGET_DIR:-target}
for candidate in "${PROBE_BIN:-}" "$target_dir/release/probe" "$target_dir/debug/probe"; do
  if [ -n "$candidate" ] && [ -x "$candidate" ]; then probe_bin=$(realpath "$candidate"); break; fi
done

failures=0
pass() { printf 'ok    %s\n' "$1"; }
# skip NAME WHY: a check this machine cannot run; a failure under CI=true.
skip() {
  if [ "${CI:-}" = true ]; then
    fail "$1" "skipped ($2), and CI=true allows no skip"
  else
    printf 'skip  %s (%s)\n' "$1" "$2"
  fi
}
fail() {
  printf 'FAIL  %s\n' "$1"
  if [ -n "${2:-}" ]; then printf '%s\n' "$2" | sed 's/^/      /'; fi
  failures=$((failures + 1))
}
# check NAME COMMAND...: runs the command, ok when it exits 0, FAIL with its output otherwise.
check() {
  local name=$1 out
  shift
  if out=$("$@" 2>&1); then pass "$name"; else fail "$name" "$out"; fi
}
# check_python NAME ARG... <<'PY': the same for a Python program read from stdin; its output on
# success (a count) goes in parentheses after the name.
check_python() {
  local name=$1 out
  shift
  if out=$(python3 - "$@" 2>&1); then pass "$name ($out)"; else fail "$name" "$out"; fi
}

# --- Prometheus ------------------------------------------------------------------------------------
# check config also loads the rule files it names (alerts.yml).
check "promtool check config deploy/prometheus/prometheus.yml" \
  promtool check config deploy/prometheus/prometheus.yml

# prometheus-auth.yml names secrets by relative path (secrets/…, beside the file). Check a copy
# with stand-ins there, so the check holds whether or not this promtool looks for them (2.42 does
# not); the CA is a real throwaway certificate when openssl is at hand, in case one parses it.
mkdir -p "$tmp/auth/secrets"
cp deploy/prometheus/prometheus-auth.yml "$tmp/auth/"
if ! openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
  -subj /CN=check-deploy -keyout "$tmp/auth/ca.key" -out "$tmp/auth/secrets/probe-ca.crt" >/dev/null 2>&1; then
  printf 'stand-in CA for scripts/check-deploy.sh\n' >"$tmp/auth/secrets/probe-ca.crt"
fi
printf 'change-me\n' >"$tmp/auth/secrets/probe-password"
check "promtool check config deploy/prometheus/prometheus-auth.yml (stand-in secrets)" \
  promtool check config "$tmp/auth/prometheus-auth.yml"

check "promtool check rules deploy/prometheus/alerts.yml" \
  promtool check rules deploy/prometheus/alerts.yml
check "promtool test rules deploy/prometheus/alerts.test.yml" \
  promtool test rules deploy/prometheus/alerts.test.yml

# --- Grafana ---------------------------------------------------------------------------------------
# Every PromQL expression of the dashboard (panel targets, annotations, the selectors inside
# label_values() of query variables), with Grafana's variables replaced by concrete values,
# becomes a recording rule; promtool then parses them all. The same pass checks the dashboard's
# structure: unique panel ids, every datasource the ${DS_PROMETHEUS} variable, every variable an
# expression uses defined.
dashboard_rules=$tmp/dashboard-rules.yml
check_python "grafana dashboard structure" deploy/grafana/probe-dashboard.json "$dashboard_rules" <<'PY'
import json, re, sys

path, rules_path = sys.argv[1], sys.argv[2]
with open(path, encoding="utf-8") as f:
    dash = json.load(f)
errors = []

# Grafana's built-in variables that stand for durations, and a value for each. $__range_s and
# friends are numbers of seconds.
DURATIONS = {"__rate_interval": "5m", "__interval": "1m", "__range": "1h"}
NUMBERS = {"__range_s": "3600", "__range_ms": "3600000", "__interval_ms": "60000"}
VAR = re.compile(r"\$\{(\w+)(?::[^}]*)?\}|\[\[(\w+)(?::[^\]]*)?\]\]|\$(\w+)")

defined = {v["name"] for v in dash.get("templating", {}).get("list", [])}

def substitute(expr, where):
    def repl(m):
        name = m.group(1) or m.group(2) or m.group(3)
        if name in DURATIONS:
            return DURATIONS[name]
        if name in NUMBERS:
            return NUMBERS[name]
        if name.startswith("__"):
            errors.append(f"{where}: unknown Grafana variable ${name}")
            return "x"
        if name not in defined:
            errors.append(f"{where}: uses ${name}, which the dashboard does not define")
        # User variables here are label-matcher values (all, multi): a regex that matches all.
        return ".*"
    return VAR.sub(repl, expr)

exprs = []  # (where, expr)

def walk(panels, parent=""):
    ids = []
    for p in panels:
        pid = p.get("id")
        where = f'panel {pid} "{p.get("title", "")}"'
        ids.append(pid)
        if p.get("type") != "row":
            for key in ("type", "title", "gridPos"):
                if key not in p:
                    errors.append(f"{where}: no {key}")
            ds = p.get("datasource", {})
            if ds.get("uid") != "${DS_PROMETHEUS}":
                errors.append(f"{where}: datasource is {ds!r}, not the DS_PROMETHEUS variable")
            if not p.get("targets"):
                errors.append(f"{where}: no targets")
        for t in p.get("targets", []):
            tds = t.get("datasource", {})
            if tds.get("uid") != "${DS_PROMETHEUS}":
                errors.append(f"{where} target {t.get('refId')}: datasource is {tds!r}")
            if not t.get("expr", "").strip():
                errors.append(f"{where} target {t.get('refId')}: empty expr")
                continue
            exprs.append((f"{where} target {t.get('refId')}", t["expr"]))
        ids += walk(p.get("panels", []), where)
    return ids

ids = walk(dash.get("panels", []))
dupes = {i for i in ids if ids.count(i) > 1}
if None in ids:
    errors.append("a panel has no id")
if dupes - {None}:
    errors.append(f"duplicate panel ids: {sorted(dupes - {None})}")
if not isinstance(dash.get("schemaVersion"), int) or dash["schemaVersion"] < 36:
    errors.append(f"schemaVersion {dash.get('schemaVersion')!r}: expected 36 or later")

for a in dash.get("annotations", {}).get("list", []):
    if a.get("expr"):
        exprs.append((f'annotation "{a.get("name")}"', a["expr"]))

LABEL_VALUES = re.compile(r"^\s*label_values\((.*),\s*\w+\s*\)\s*$", re.S)
for v in dash.get("templating", {}).get("list", []):
    if v.get("type") != "query":
        continue
    q = v.get("query")
    q = q.get("query", "") if isinstance(q, dict) else (q or "")
    m = LABEL_VALUES.match(q)
    if m:
        exprs.append((f'variable "{v["name"]}"', m.group(1)))
    elif q.strip().startswith("query_result("):
        exprs.append((f'variable "{v["name"]}"', q.strip()[len("query_result("):-1]))

if not exprs:
    errors.append("no PromQL expressions found")

with open(rules_path, "w", encoding="utf-8") as out:
    out.write("groups:\n  - name: dashboard\n    rules:\n")
    for n, (where, expr) in enumerate(exprs):
        concrete = substitute(expr, where)
        record = "dashboard:" + re.sub(r"\W+", "_", where).strip("_").lower() + f"_{n}"
        out.write(f"      - record: {record}\n        expr: {json.dumps(concrete)}\n")

if errors:
    print("\n".join(errors))
    sys.exit(1)
print(f"{len(exprs)} expressions")
PY
if [ -s "$dashboard_rules" ]; then
  check "promtool check rules: every PromQL expression of deploy/grafana/probe-dashboard.json" \
    promtool check rules "$dashboard_rules"
fi

# --- systemd -----------------------------------------------------------------------------------------
# systemd-analyze verify wants ExecStart's binary to exist and /usr/local/bin/probe usually does
# not here: verify a copy whose ExecStart points at a built binary or, failing that, a stub. It
# exits 0 on many problems (an unknown key, a bad value: "…, ignoring"), so any line it prints
# about the unit counts as a failure too.
unit=deploy/systemd/probe.service
if command -v systemd-analyze >/dev/null 2>&1; then
  exe=$probe_bin
  if [ -z "$exe" ]; then
    exe=$tmp/probe-stub
    printf '#!/bin/sh\nexit 0\n' >"$exe"
    chmod 0755 "$exe"
  fi
  mkdir -p "$tmp/systemd"
  sed "s#^ExecStart=/usr/local/bin/probe #ExecStart=$exe #" "$unit" >"$tmp/systemd/probe.service"
  if ! grep -q "^ExecStart=$exe " "$tmp/systemd/probe.service"; then
    fail "systemd-analyze verify $unit" "ExecStart=/usr/local/bin/probe … not found in the unit"
  else
    rc=0
    out=$(systemd-analyze verify "$tmp/systemd/probe.service" 2>&1) || rc=$?
    about_unit=$(printf '%s\n' "$out" | grep -E "probe\.service|$tmp" || true)
    if [ "$rc" -ne 0 ] || [ -n "$about_unit" ]; then
      fail "systemd-analyze verify $unit (ExecStart → $exe)" "${about_unit:-$out}"
    else
      pass "systemd-analyze verify $unit (ExecStart → $exe)"
    fi
    # The sandbox itself: `systemd-analyze security` rates exposure from 0 (locked down) to 10.
    # The unit scores 1.6; fail if a change takes it above 2.5 (--threshold is in tenths).
    if systemd-analyze --help 2>/dev/null | grep -q -- '--offline'; then
      name="systemd-analyze security $unit: exposure at most 2.5"
      if out=$(systemd-analyze security --offline=yes --threshold=25 --no-pager "$tmp/systemd/probe.service" 2>&1); then
        pass "$name ($(printf '%s\n' "$out" | grep -o 'exposure level for [^:]*: [0-9.]*' | grep -o '[0-9.]*$'))"
      else
        # The settings that cost exposure (✗) and the verdict, not the 80-line table.
        fail "$name" "$(printf '%s\n' "$out" | grep -E '^✗|Overall exposure|rror' || printf '%s\n' "$out")"
      fi
    else
      skip "systemd-analyze security $unit: exposure at most 2.5" \
        "this systemd-analyze has no --offline: it needs systemd 250 or later"
    fi
  fi
else
  # Installed above when missing; still absent means it is not on PATH.
  fail "systemd-analyze verify $unit" "systemd-analyze not found on PATH ($PATH)"
fi

# --- YAML, JSON and the configurations inside them ---------------------------------------------------
# Every YAML document under deploy/ and probes/ parses (Kubernetes files hold several, hence
# safe_load_all); every JSON file parses; every Kubernetes object has apiVersion, kind and a
# name; the agent configurations embedded in ConfigMaps parse as YAML too, and are written out
# for `probe validate` below.
embedded=$tmp/embedded
mkdir -p "$embedded"
check_python "YAML and JSON under deploy/ and probes/ parse" "$embedded" <<'PY'
import json, pathlib, sys
import yaml

embedded = pathlib.Path(sys.argv[1])
errors, count = [], 0
files = sorted(p for p in pathlib.Path("deploy").rglob("*") if p.suffix in (".yaml", ".yml", ".json"))
files += sorted(pathlib.Path("probes").glob("*.yaml"))
for path in files:
    count += 1
    try:
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".json":
            json.loads(text)
            continue
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except (yaml.YAMLError, json.JSONDecodeError, UnicodeDecodeError) as e:
        errors.append(f"{path}: {e}")
        continue
    if not docs:
        errors.append(f"{path}: no YAML document")
    if path.parts[:2] != ("deploy", "kubernetes"):
        continue
    for i, doc in enumerate(docs):
        where = f"{path} document {i + 1}"
        if not isinstance(doc, dict):
            errors.append(f"{where}: not a mapping")
            continue
        if doc.get("kind") == "Kustomization":
            continue
        for key in ("apiVersion", "kind"):
            if not doc.get(key):
                errors.append(f"{where}: no {key}")
        if not (doc.get("metadata") or {}).get("name"):
            errors.append(f"{where}: no metadata.name")
        if doc.get("kind") == "ConfigMap":
            for key, value in (doc.get("data") or {}).items():
                if key.endswith((".yaml", ".yml")):
                    try:
                        yaml.safe_load(value)
                    except yaml.YAMLError as e:
                        errors.append(f"{where}: data.{key}: {e}")
                        continue
                    out = embedded / f"{path.stem}-{doc['metadata']['name']}-{key}"
                    out.write_text(value, encoding="utf-8")
if errors:
    print("\n".join(errors))
    sys.exit(1)
print(f"{count} files")
PY

# The embedded agent configurations are examples people copy: `probe validate` must accept them
# and find nothing wrong (exit 0).
shopt -s nullglob
configs=("$embedded"/*)
shopt -u nullglob
if ((${#configs[@]} == 0)); then
  fail "configurations embedded in deploy/kubernetes" "no ConfigMap with a probe.yaml found"
elif [ -z "$probe_bin" ]; then
  skip "probe validate on the ConfigMaps' probe.yaml" "no built binary; set PROBE_BIN or cargo build"
else
  for config in "${configs[@]}"; do
    check "probe validate: $(basename "$config") (deploy/kubernetes)" "$probe_bin" validate --config "$config"
  done
fi

# --- Kubernetes schemas ----------------------------------------------------------------------------
# Every object under deploy/kubernetes (DaemonSet, sharded StatefulSet, sidecar, Services, ...)
# against the real Kubernetes OpenAPI schemas that PyPI's kubernetes-validate ships, strictly (an
# unknown or misspelt field fails), for the oldest Kubernetes the manifests support (1.28: the
# StatefulSet's pod-index label) and a current one. Custom resources (ServiceMonitor) and the
# Kustomizations have no schema there and are counted apart. kubernetes-validate is pinned in
# scripts/deploy-requirements.txt and installed in a virtual environment under the target
# directory.
k8s_venv="${CARGO_TARGET_DIR:-target}/deploy-venv"
if ! cmp -s scripts/deploy-requirements.txt "$k8s_venv/deploy-requirements.txt" 2>/dev/null; then
  rm -rf "$k8s_venv"
  if python3 -m venv "$k8s_venv" >/dev/null 2>&1 &&
    "$k8s_venv/bin/pip" install -q --disable-pip-version-check --no-input \
      -r scripts/deploy-requirements.txt >/dev/null 2>&1; then
    cp scripts/deploy-requirements.txt "$k8s_venv/deploy-requirements.txt"
  fi
fi
if [ -x "$k8s_venv/bin/kubernetes-validate" ]; then
  mapfile -t manifests < <(find deploy/kubernetes -name '*.yaml' | sort)
  for version in 1.28 1.34; do
    name="kubernetes-validate --strict, Kubernetes $version: deploy/kubernetes"
    if out=$("$k8s_venv/bin/kubernetes-validate" --strict --no-warn -k "$version" "${manifests[@]}" 2>&1); then
      passed=$(printf '%s\n' "$out" | grep -c ' passed for resource ' || true)
      nschema=$("$k8s_venv/bin/kubernetes-validate" -k "$version" "${manifests[@]}" 2>&1 |
        grep -o "schema for kind [A-Za-z]*" | sort -u | sed 's/schema for kind //' | paste -sd, - || true)
      pass "$name ($passed objects; no schema: ${nschema:-none})"
    else
      fail "$name" "$(printf '%s\n' "$out" | grep -v ' passed for resource ')"
    fi
  done
else
  fail "kubernetes-validate on deploy/kubernetes" \
    "cannot install scripts/deploy-requirements.txt into $k8s_venv (python3-venv and PyPI needed)"
fi

# Every flag the manifests (containers running the probe image) and the systemd unit pass to
# `probe agent` exists in this build's `probe agent --help`.
if [ -n "$probe_bin" ]; then
  "$probe_bin" agent --help >"$tmp/agent-help.txt"
  check_python "probe agent flags in deploy/ exist" "$tmp/agent-help.txt" <<'PY'
import pathlib, re, sys
import yaml

help_text = pathlib.Path(sys.argv[1]).read_text()
known = set(re.findall(r"--[a-z][a-z-]+", help_text))
used = {}
for path in sorted(pathlib.Path("deploy/kubernetes").rglob("*.yaml")):
    for doc in yaml.safe_load_all(path.read_text()):
        spec = (doc or {}).get("spec", {}) or {}
        pod = (spec.get("template") or {}).get("spec") or {}
        for c in pod.get("containers", []) + pod.get("initContainers", []):
            if not str(c.get("image", "")).startswith("probe"):
                continue
            for a in c.get("args", []) or []:
                if str(a).startswith("--"):
                    used.setdefault(str(a).split("=")[0], str(path))
unit = pathlib.Path("deploy/systemd/probe.service").read_text()
for line in unit.splitlines():
    if line.startswith("ExecStart="):
        for flag in re.findall(r"(?<![\w-])--[a-z][a-z-]+", line):
            used.setdefault(flag, "deploy/systemd/probe.service")
unknown = sorted(f"{f} ({where})" for f, where in used.items() if f not in known)
if unknown:
    print("unknown: " + ", ".join(unknown))
    sys.exit(1)
print(f"{len(used)} flags")
PY
fi

# --- Container -------------------------------------------------------------------------------------
# No engine here to build it, so: the Dockerfile exists, every FROM names an image pinned to a
# tag or digest (never bare or :latest) or an earlier stage, every COPY --from names an earlier
# stage, the final image does not run as root, and .dockerignore keeps target/ and .git out.
check_python "deploy/container/Dockerfile: images pinned, non-root, .dockerignore" \
  deploy/container/Dockerfile .dockerignore <<'PY'
import re, sys

dockerfile, ignore = sys.argv[1], sys.argv[2]
errors, stages, froms, user = [], {}, 0, None  # stages: name -> the USER it ends with
try:
    text = open(dockerfile, encoding="utf-8").read()
except OSError as e:
    print(e); sys.exit(1)
# Join continuation lines, drop comments.
lines = re.sub(r"\\\n", " ", text).splitlines()
current = None
for n, line in enumerate(lines, 1):
    line = line.strip()
    if not line or line.startswith("#"):
        continue
    word, _, rest = line.partition(" ")
    word = word.upper()
    if word == "FROM":
        froms += 1
        args = [a for a in rest.split() if not a.startswith("--")]
        image = args[0]
        stage = args[2].lower() if len(args) >= 3 and args[1].upper() == "AS" else None
        # A stage built on an earlier one inherits its USER.
        user = stages.get(image.lower())
        if image.lower() in stages or "@sha256:" in image:
            pass
        else:
            name, _, tag = image.rpartition(":")
            if not name or "/" in tag or not tag:
                errors.append(f"FROM {image}: not pinned to a tag")
            elif tag == "latest":
                errors.append(f"FROM {image}: :latest is not a pin")
        current = stage
        if stage:
            stages[stage] = user
    elif word == "COPY":
        m = re.search(r"--from=(\S+)", rest)
        if m and m.group(1).lower() not in stages and ":" not in m.group(1):
            errors.append(f"COPY --from={m.group(1)}: no earlier stage of that name")
    elif word == "USER":
        user = rest.strip()
        if current:
            stages[current] = user
if froms == 0:
    errors.append("no FROM line")
if user in (None, "root", "0", "0:0"):
    errors.append(f"the final stage runs as {user or 'the base image user'}: set USER to a non-root user")
try:
    patterns = {l.strip().rstrip("/") for l in open(ignore, encoding="utf-8") if l.strip() and not l.startswith("#")}
except OSError as e:
    errors.append(str(e)); patterns = set()
for needed in ("target", ".git"):
    if needed not in patterns:
        errors.append(f"{ignore}: does not exclude {needed}")
if errors:
    print("\n".join(errors)); sys.exit(1)
print(f"{froms} stages")
PY

if ((failures)); then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all checks passed"
