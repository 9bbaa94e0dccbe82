#!/usr/bin/env bash
# Dumps the AWS configuration that `probe check --aws DIR` (and `probe validate --aws DIR`,
# `probe import aws DIR`) reads: one directory of AWS CLI JSON outputs, as docs/import-aws.md
# describes them.
#
#   scripts/dump-aws.sh [-o DIR] [--region R] [--vpc vpc-...] [--endpoint-url URL]
#                       [--profile P] [-j N]
#
#   -o DIR            where to write (default: aws-dump). Written into a temporary directory
#                     beside DIR first and renamed into place at the end, so DIR is either the
#                     whole dump or untouched. An existing DIR is replaced only when it is empty
#                     or an earlier dump of this script (it holds the file .dump-aws).
#   --region R        the region of the load balancers (default: the CLI's configured region)
#   --vpc vpc-...     keep to one VPC: an EC2 filter on every call that has one; load balancers
#                     and target groups (whose calls have no VPC filter) are kept by VpcId
#   --endpoint-url U  another endpoint for every call (a local mock such as moto)
#   --profile P       the CLI profile
#   -j N              at most N calls at once (default 4)
#
# Needs the AWS CLI (`aws`, v1 or v2) and `jq`, and read access to EC2 and Elastic Load
# Balancing (the managed policies AmazonEC2ReadOnlyAccess and ElasticLoadBalancingReadOnly are
# enough). Every call only describes; nothing is changed.
#
# The files: one per describe call, as the CLI prints it; the CLI follows pagination itself.
# Calls that the CLI makes once per resource (listeners per load balancer, rules per listener,
# target health and attributes per target group, ...) give one file each. Where the output does
# not say which resource it describes, it is wrapped with that resource's id, the convention
# docs/import-aws.md set for target health, jq's `{TargetGroupArn: $arn} + .`:
#
#   rules-*.json              {"ListenerArn": ARN, "Rules": [...]}
#   health-*.json             {"TargetGroupArn": ARN, "TargetHealthDescriptions": [...]}
#   lb-attributes-*.json      {"LoadBalancerArn": ARN, "Attributes": [...]}
#   tg-attributes-*.json      {"TargetGroupArn": ARN, "Attributes": [...]}
#   classic-health-*.json     {"LoadBalancerName": N, "InstanceStates": [...]}
#   classic-attributes-*.json {"LoadBalancerName": N, "LoadBalancerAttributes": {...}}
#   prefix-list-*.json        {"PrefixListId": ID, "Entries": [...]}
#
# The file names are those of docs/import-aws.md ("Files the dump holds"); `probe` reads each
# file by its top-level keys, not its name. Listeners need no wrapper: each carries its
# LoadBalancerArn.
#
# Exit status: 0 when every call succeeded, 1 when one failed (its command and the CLI's message
# are printed), 2 on a usage error or a missing tool.
# shellcheck disable=SC2016 # the $ in single quotes are jq's variables
set -euo pipefail

me=dump-aws.sh
out=aws-dump
vpc=""
jobs_max=4
cli=(--output json)

# usage STATUS: this file's header comment, on stdout for -h, else on stderr.
usage() {
  awk 'NR > 1 && !/^#/ { exit } NR > 1 && !/shellcheck/ { sub(/^# ?/, ""); print }' "$0" >&"$(($1 ? 2 : 1))"
  exit "$1"
}
die() {
  echo "$me: $*" >&2
  exit 2
}

while (($#)); do
  case "$1" in
    -o | --output-dir) [ $# -ge 2 ] || die "$1 needs a directory"; out=$2; shift 2 ;;
    --region) [ $# -ge 2 ] || die "$1 needs a region"; cli+=(--region "$2"); shift 2 ;;
    --vpc) [ $# -ge 2 ] || die "$1 needs a VPC id"; vpc=$2; shift 2 ;;
    --endpoint-url) [ $# -ge 2 ] || die "$1 needs a URL"; cli+=(--endpoint-url "$2"); shift 2 ;;
    --profile) [ $# -ge 2 ] || die "$1 needs a profile name"; cli+=(--profile "$2"); shift 2 ;;
    -j | --jobs) [ $# -ge 2 ] || die "$1 needs a number"; jobs_max=$2; shift 2 ;;
    -h | --help) usage 0 ;;
    *) echo "$me: unknown argument: $1" >&2; usage 2 ;;
  esac
done
case "$vpc" in "" | vpc-*) ;; *) die "--vpc wants a VPC id (vpc-...), not: $vpc" ;; esac
case "$jobs_max" in '' | *[!0-9]* | 0) die "-j wants a positive number, not: $jobs_max" ;; esac

for tool in aws jq; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    case "$tool" in
      aws) die "the AWS CLI (aws) is not installed or not on PATH: install it (pip install awscli, or AWS CLI v2)" ;;
      jq) die "jq is not installed or not on PATH: install it (apt-get install jq, brew install jq)" ;;
    esac
  fi
done

# Never a pager or a prompt: this runs unattended.
export AWS_PAGER="" AWS_CLI_AUTO_PROMPT=off AWS_DEFAULT_OUTPUT=json

# The output directory: a temporary one beside it, renamed into place at the end.
out=${out%/}
[ -n "$out" ] || die "-o wants a directory"
if [ -e "$out" ]; then
  [ -d "$out" ] || die "$out exists and is not a directory"
  if [ -n "$(ls -A "$out")" ] && [ ! -e "$out/.dump-aws" ]; then
    die "$out is not empty and not an earlier dump of this script: choose another -o, or empty it"
  fi
fi
parent=$(dirname "$out")
mkdir -p "$parent"
tmp=$(mktemp -d "$parent/.dump-aws.XXXXXX")
mkdir "$tmp/.err"

pids=()
# On the way out: the calls still running (each job's aws and jq, then the job) and the
# temporary directory.
cleanup() {
  local p
  for p in ${pids[@]+"${pids[@]}"}; do
    if command -v pkill >/dev/null 2>&1; then pkill -P "$p" 2>/dev/null || true; fi
    kill "$p" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The calls run as background jobs, at most jobs_max at once; `wait_all` waits for every one and
# stops at the first that failed, naming its command.
names=()
jobids=()
n=0
wait_one() {
  local pid=${pids[0]} name=${names[0]} job=${jobids[0]} status=0
  pids=(${pids[@]+"${pids[@]:1}"})
  names=(${names[@]+"${names[@]:1}"})
  jobids=(${jobids[@]+"${jobids[@]:1}"})
  wait "$pid" || status=$?
  if [ "$status" -ne 0 ]; then
    echo "$me: failed (exit $status): $name" >&2
    local err
    for err in "$tmp/.err/$job".*; do
      [ -s "$err" ] && sed -e '/^[[:space:]]*$/d' -e 's/^/  /' "$err" >&2
    done
    exit 1
  fi
}
wait_all() {
  while ((${#pids[@]})); do wait_one; done
}
# spawn FILE WRAPKEY WRAPVALUE AWS-ARGS...: runs `aws AWS-ARGS` into FILE in the background;
# with a WRAPKEY (else ""), the output is wrapped as {WRAPKEY: WRAPVALUE} + output.
spawn() {
  local file=$1 key=$2 value=$3
  shift 3
  while ((${#pids[@]} >= jobs_max)); do wait_one; done
  n=$((n + 1))
  (
    err="$tmp/.err/$n"
    if [ -z "$key" ]; then
      aws "${cli[@]}" "$@" >"$tmp/$file" 2>"$err.aws"
    else
      aws "${cli[@]}" "$@" 2>"$err.aws" |
        jq --arg key "$key" --arg v "$value" '{($key): $v} + .' >"$tmp/$file" 2>"$err.jq"
    fi
    # An empty output is not JSON (an old CLI prints nothing for an empty answer).
    [ -s "$tmp/$file" ] || { echo "no output" >"$err.empty"; exit 1; }
  ) &
  pids+=($!)
  jobids+=("$n")
  names+=("aws $* > $file")
}
# A file name from an id or ARN: its resource part, with / and : as -.
slug() {
  local s=${1##*:}
  s=${s//\//-}
  printf '%s' "${s//[^A-Za-z0-9._-]/_}"
}
# The values of jq FILTER over file F, one per line.
ids() { jq -r "$2" "$tmp/$1"; }

ec2_vpc=()
if [ -n "$vpc" ]; then ec2_vpc=(--filters "Name=vpc-id,Values=$vpc"); fi

# Phase 1: everything listed per region (or per VPC).
if [ -n "$vpc" ]; then
  spawn vpcs.json "" "" ec2 describe-vpcs --vpc-ids "$vpc"
  spawn internet-gateways.json "" "" ec2 describe-internet-gateways --filters "Name=attachment.vpc-id,Values=$vpc"
  spawn nat-gateways.json "" "" ec2 describe-nat-gateways --filter "Name=vpc-id,Values=$vpc"
  # A peering names the VPC as requester or accepter: two calls (filters of different names
  # are ANDed); a peering in both files is the same object, which the importer merges.
  spawn vpc-peering-connections-requester.json "" "" ec2 describe-vpc-peering-connections --filters "Name=requester-vpc-info.vpc-id,Values=$vpc"
  spawn vpc-peering-connections-accepter.json "" "" ec2 describe-vpc-peering-connections --filters "Name=accepter-vpc-info.vpc-id,Values=$vpc"
else
  spawn vpcs.json "" "" ec2 describe-vpcs
  spawn internet-gateways.json "" "" ec2 describe-internet-gateways
  spawn nat-gateways.json "" "" ec2 describe-nat-gateways
  spawn vpc-peering-connections.json "" "" ec2 describe-vpc-peering-connections
fi
spawn subnets.json "" "" ec2 describe-subnets ${ec2_vpc[@]+"${ec2_vpc[@]}"}
spawn security-groups.json "" "" ec2 describe-security-groups ${ec2_vpc[@]+"${ec2_vpc[@]}"}
spawn network-acls.json "" "" ec2 describe-network-acls ${ec2_vpc[@]+"${ec2_vpc[@]}"}
spawn route-tables.json "" "" ec2 describe-route-tables ${ec2_vpc[@]+"${ec2_vpc[@]}"}
spawn network-interfaces.json "" "" ec2 describe-network-interfaces ${ec2_vpc[@]+"${ec2_vpc[@]}"}
spawn instances.json "" "" ec2 describe-instances ${ec2_vpc[@]+"${ec2_vpc[@]}"}
spawn prefix-lists.json "" "" ec2 describe-managed-prefix-lists
spawn load-balancers.json "" "" elbv2 describe-load-balancers
spawn target-groups.json "" "" elbv2 describe-target-groups
spawn classic.json "" "" elb describe-load-balancers
if [ -z "$vpc" ]; then
  spawn security-group-rules.json "" "" ec2 describe-security-group-rules
fi
wait_all

# --vpc: the load balancer calls have no VPC filter; keep those in the VPC, and the target groups
# in it or used by a kept load balancer (a Lambda target group has no VpcId).
if [ -n "$vpc" ]; then
  keep() { # FILE FILTER [JQ-ARGS...]
    local file=$1 filter=$2
    shift 2
    jq --arg vpc "$vpc" "$@" "$filter" "$tmp/$file" >"$tmp/$file.new" && mv "$tmp/$file.new" "$tmp/$file"
  }
  keep load-balancers.json '.LoadBalancers |= map(select(.VpcId == $vpc))'
  keep classic.json '.LoadBalancerDescriptions |= map(select(.VPCId == $vpc))'
  keep target-groups.json '.TargetGroups |= map(select(.VpcId == $vpc or any((.LoadBalancerArns // [])[]; IN($lbs[]))))' \
    --argjson lbs "$(jq -c '[.LoadBalancers[].LoadBalancerArn]' "$tmp/load-balancers.json")"
fi

# Phase 2: one call per resource of phase 1.
if [ -n "$vpc" ]; then
  # describe-security-group-rules has no VPC filter: the rules of the VPC's groups, 100 groups
  # a call.
  chunk=0
  while read -r groups; do
    [ -n "$groups" ] || continue
    chunk=$((chunk + 1))
    spawn "security-group-rules-$chunk.json" "" "" ec2 describe-security-group-rules --filters "Name=group-id,Values=$groups"
  done < <(jq -r '[.SecurityGroups[].GroupId] | range(0; length; 100) as $i | .[$i:$i+100] | join(",")' "$tmp/security-groups.json")
fi
# Prefix lists' entries: those that security group rules or routes reference.
for pl in $(jq -r '[.. | objects | (.PrefixListId?, .DestinationPrefixListId?) | strings] | unique[]' \
  "$tmp/security-groups.json" "$tmp/route-tables.json" | sort -u); do
  spawn "prefix-list-$(slug "$pl").json" PrefixListId "$pl" ec2 get-managed-prefix-list-entries --prefix-list-id "$pl"
done
for lb in $(ids load-balancers.json '.LoadBalancers[].LoadBalancerArn'); do
  spawn "listeners-$(slug "$lb").json" "" "" elbv2 describe-listeners --load-balancer-arn "$lb"
  spawn "lb-attributes-$(slug "$lb").json" LoadBalancerArn "$lb" elbv2 describe-load-balancer-attributes --load-balancer-arn "$lb"
done
for tg in $(ids target-groups.json '.TargetGroups[].TargetGroupArn'); do
  spawn "health-$(slug "$tg").json" TargetGroupArn "$tg" elbv2 describe-target-health --target-group-arn "$tg"
  spawn "tg-attributes-$(slug "$tg").json" TargetGroupArn "$tg" elbv2 describe-target-group-attributes --target-group-arn "$tg"
done
for clb in $(ids classic.json '.LoadBalancerDescriptions[].LoadBalancerName'); do
  spawn "classic-health-$(slug "$clb").json" LoadBalancerName "$clb" elb describe-instance-health --load-balancer-name "$clb"
  spawn "classic-attributes-$(slug "$clb").json" LoadBalancerName "$clb" elb describe-load-balancer-attributes --load-balancer-name "$clb"
done
wait_all

# Phase 3: the rules of every listener (a gateway load balancer's listeners have none).
for f in "$tmp"/listeners-*.json; do
  [ -e "$f" ] || continue
  for listener in $(jq -r '.Listeners[] | select(.Protocol != "GENEVE" and .Protocol != null) | .ListenerArn' "$f"); do
    spawn "rules-$(slug "$listener").json" ListenerArn "$listener" elbv2 describe-rules --listener-arn "$listener"
  done
done
wait_all

# Into place: an earlier dump in $out is replaced whole.
rm -rf "$tmp/.err"
: >"$tmp/.dump-aws"
if [ -d "$out" ]; then
  old=$(mktemp -d "$parent/.dump-aws-old.XXXXXX")
  mv "$out" "$old/"
  mv "$tmp" "$out"
  rm -rf "$old"
else
  mv "$tmp" "$out"
fi
trap - EXIT

# What it wrote: each file, its top-level keys and how many objects each list holds.
count=0
for f in "$out"/*.json; do
  count=$((count + 1))
  printf '%s\t%s\n' "$f" "$(jq -r '[to_entries[] | if (.value | type) == "array" then "\(.key): \(.value | length)" else .key end] | join(", ")' "$f")"
done
echo "$me: wrote $count files to $out${vpc:+ (VPC $vpc)}"
