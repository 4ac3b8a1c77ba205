#!/usr/bin/env bash
# Build the image and run it the way docker-compose.yml does, then check it for real:
#   read-only root, tmpfs on /tmp, no capabilities, no-new-privileges, the weights mounted read-only;
#   /readyz, a fixture classified, /metrics scraped, the page at /, the process user, the read-only root,
#   and SIGTERM with uploads in flight: every upload must be answered 200.
# Minutes and many GB of disk: not part of `make test`. Needs a Docker engine (../shared/tools/local-docker.sh
# starts one on a build machine; there containers use --network host, so the port is given with PORT).
#   bash deploy/check_container.sh [IMAGE_TAG]        # PORT=8000 IN_FLIGHT=8 to change the defaults
#   DOCKERFILE=Dockerfile.cpu bash deploy/check_container.sh maskwatch-cpu:check     # the torch-free CPU image
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${1:-maskwatch:check}
dockerfile=${DOCKERFILE:-Dockerfile}
port=${PORT:-8000}
in_flight=${IN_FLIGHT:-8}
name=maskwatch-check
fixture=tests/fixtures/voc/images/maksssksksss145.png
base=http://127.0.0.1:$port
work=$(mktemp -d)
cleanup() { docker rm -f "$name" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; docker logs --tail 30 "$name" >&2 2>/dev/null || true; exit 1; }
now() { date +%s.%N; }

start=$(now)
docker build --network host -f "$dockerfile" -t "$tag" . >"$work/build.log" 2>&1 || { tail -30 "$work/build.log" >&2; fail "docker build"; }
build_s=$(printf %.0f "$(echo "$(now) - $start" | bc)")
size_mb=$(( $(docker image inspect -f '{{.Size}}' "$tag") / 1000000 ))
echo "built $tag from $dockerfile in ${build_s} s; image size ${size_mb} MB"

run_container() {
  docker run -d --name "$name" --network host --read-only --tmpfs /tmp --cap-drop ALL \
    --security-opt no-new-privileges:true -v "$PWD/models/weights:/models:ro" -e MASKWATCH_MODEL_DIR=/models \
    -e PORT="$port" --stop-timeout 40 "$tag" >/dev/null
}
start=$(now)
run_container
started=$(now)  # docker run returns once the process runs (creating the container's filesystem comes first)
until curl -sf "$base/readyz" >/dev/null; do
  [ "$(docker inspect -f '{{.State.Running}}' "$name")" = true ] || fail "the container exited before it was ready"
  [ "$(echo "$(now) - $started > 120" | bc)" = 1 ] && fail "not ready 120 s after start"
  sleep 0.1
done
ready_s=$(printf %.1f "$(echo "$(now) - $started" | bc)")
create_s=$(printf %.1f "$(echo "$started - $start" | bc)")
echo "ready ${ready_s} s after the process started (docker run itself took ${create_s} s); $(docker logs "$name" 2>&1 | grep -o 'models loaded[^"]*')"

curl -sf "$base/v1/info" | python3 -c 'import json, sys; m = json.load(sys.stdin)["model"]; print("model:", m)'
faces=$(curl -sf -F "image=@$fixture" "$base/v1/classify" | python3 -c 'import json, sys; print(len(json.load(sys.stdin)["faces"]))')
[ "$faces" -gt 0 ] || fail "no face found in $fixture"
echo "classified $fixture: $faces faces"
# bodies are read whole before grep: `curl | grep -q` fails under pipefail when grep stops reading early
grep -q '^maskwatch_images_processed_total' <<<"$(curl -sf "$base/metrics")" || fail "/metrics has no maskwatch_images_processed_total"
echo "/metrics scraped"
grep -q "v1/classify" <<<"$(curl -sf "$base/")" || fail "the page at / is not served"

uid=$(docker exec "$name" id -u)
[ "$uid" != 0 ] || fail "the server runs as root"
[ "$(docker inspect -f '{{.HostConfig.ReadonlyRootfs}}' "$name")" = true ] || fail "the root filesystem is writable"
docker exec "$name" sh -c 'touch /app/written 2>/dev/null' && fail "could write to /app"
docker exec "$name" sh -c 'touch /tmp/written' || fail "could not write to the /tmp tmpfs"
caps=$(docker exec "$name" sh -c "grep CapEff /proc/1/status | awk '{print \$2}'")
[ "$caps" = 0000000000000000 ] || fail "the process has capabilities $caps"
echo "runs as uid $uid, read-only root, writable /tmp, no capabilities"

for i in $(seq "$in_flight"); do
  curl -s -o /dev/null -w '%{http_code}\n' -F "image=@$fixture" "$base/v1/classify?annotate=true" >"$work/status.$i" &
done
sleep 0.3  # the uploads are sent and queued behind the one model thread
start=$(now)
docker kill --signal TERM "$name" >/dev/null
wait
statuses=$(cat "$work"/status.* | sort | uniq -c | xargs)
answered=$(grep -c '^200$' "$work"/status.* | awk -F: '{s += $2} END {print s}')
docker wait "$name" >/dev/null
stop_s=$(printf %.1f "$(echo "$(now) - $start" | bc)")
exit_code=$(docker inspect -f '{{.State.ExitCode}}' "$name")
echo "SIGTERM with $in_flight uploads in flight: statuses [$statuses], exit code $exit_code, stopped in ${stop_s} s"
[ "$answered" = "$in_flight" ] || fail "only $answered of $in_flight uploads were answered 200"
echo "PASS: image ${size_mb} MB, built in ${build_s} s, ready ${ready_s} s after start"
