#!/usr/bin/env bash
# `make docker-test`: build the image from ./Dockerfile with podman, run it as its non-root user, and
# check /api/health plus one attention request per family (container/smoke.py). Opt-in, not part of
# `make test`. Skips (exit 0) with a message where podman is missing.
#
# On a closed network (this project's machines) the base is a debootstrap'd Debian (container/make_base.sh),
# the CPU torch wheel that the host's pip uses is mounted into the build, and the host's CA bundle is
# mounted for pip at build time only. With a public registry: BASE=python:3.11-slim TORCH_WHEEL= make docker-test.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v podman >/dev/null; then
  echo "SKIP docker-test: podman is not installed (apt-get install podman runc debootstrap)"
  exit 0
fi
IMAGE=${IMAGE:-localhost/attnviz:test}
BASE=${BASE:-localhost/attnviz-base:bookworm}
TORCH_WHEEL=${TORCH_WHEEL-$(ls /opt/wheels/torch-2.13.0+cpu-*.whl 2>/dev/null | head -1)}
CA=${CA:-/etc/ssl/certs/ca-certificates.crt}
PORT=${PORT:-18000}
RUNTIME=(--runtime runc)  # crun fails on hosts with mixed cgroups
LIMITS=(--ulimit nofile=20000:20000 --ulimit nproc=32768:32768)

[[ $BASE == localhost/* ]] && container/make_base.sh "$BASE"
args=(--format docker --build-arg "BASE=$BASE" "${LIMITS[@]}")
if [[ -n $TORCH_WHEEL ]]; then
  args+=(-v "$(dirname "$TORCH_WHEEL"):/wheels:ro" --build-arg "TORCH_SPEC=/wheels/$(basename "$TORCH_WHEEL")")
fi
if [[ -f $CA ]]; then
  args+=(-v "$CA:/run/host-ca.crt:ro" --build-arg PIP_CERT=/run/host-ca.crt)
fi
start=$(date +%s)
podman "${RUNTIME[@]}" build "${args[@]}" -t "$IMAGE" .
echo "built $IMAGE in $(( $(date +%s) - start )) s; size $(podman image inspect "$IMAGE" --format '{{.Size}}') bytes"

name=attnviz-test-$$
podman "${RUNTIME[@]}" run -d --name "$name" "${LIMITS[@]}" -p "127.0.0.1:$PORT:8000" "$IMAGE" >/dev/null
trap 'podman logs --tail 30 "$name" || true; podman rm -f "$name" >/dev/null 2>&1 || true' EXIT
user=$(podman exec "$name" id -u)
[[ $user != 0 ]] || { echo "FAIL: the container runs as root"; exit 1; }
echo "container user id $user"
HOST_PYTHON=${HOST_PYTHON:-$( [[ -x .venv/bin/python ]] && echo .venv/bin/python || echo python3 )}
"$HOST_PYTHON" container/smoke.py "http://127.0.0.1:$PORT" --wait 300
# the image's own HEALTHCHECK, run once (podman schedules it with systemd timers, absent in CI containers)
podman healthcheck run "$name" && echo "HEALTHCHECK: healthy"
echo "docker-test passed"
