# attnviz on CPU: non-root, port 8000, health-checked. Models come from pip packages and git, never a hub.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1 \
    OMP_WAIT_POLICY=PASSIVE \
    MALLOC_ARENA_MAX=2

RUN useradd --create-home --uid 10001 attnviz
WORKDIR /srv/attnviz

# CPU wheel of torch first, so nothing later can pull a CUDA build.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0

COPY pyproject.toml README.md ./
COPY app app
COPY models models
COPY templates templates
COPY static static
# Editable, so the templates and static folders next to app/ are found.
RUN pip install -e . && chown -R attnviz /srv/attnviz

USER attnviz
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/api/health', timeout=4)"
CMD ["attnviz", "serve", "--host", "0.0.0.0", "--port", "8000"]
