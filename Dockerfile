# m3tr service image (CPU). One image runs every role: the app (`m3tr serve`), workers
# (`m3tr worker --queues ...`) and migrations (`m3tr db upgrade`); docker-compose.yml picks the
# command.
#
# GPU worker image: the same Dockerfile with three build arguments (see the worker-gpu service in
# docker-compose.yml):
#   BASE_IMAGE=nvidia/cuda:12.8.1-cudnn-devel-ubuntu24.04   (nvcc, to build mamba-ssm kernels)
#   TORCH_INDEX=https://download.pytorch.org/whl/cu128       (CUDA build of torch)
#   EXTRAS=[cuda]                                             (mamba-ssm, causal-conv1d, faiss-gpu)
# and it must run with an NVIDIA device reservation (nvidia-container-toolkit on the host).
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}

ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ARG EXTRAS=

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    M3TR_HOME=/data

# python3/pip exist in the slim image; the CUDA base images need them installed.
RUN set -eux; \
    apt-get update; \
    if ! command -v python3 >/dev/null; then \
        apt-get install -y --no-install-recommends python3 python3-venv python3-dev; \
    fi; \
    apt-get install -y --no-install-recommends curl libgomp1 procps; \
    rm -rf /var/lib/apt/lists/*; \
    python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /srv/m3tr
# torch first, from the index that matches the image (never an unpinned, default-index torch)
RUN pip install --index-url "${TORCH_INDEX}" "torch==${TORCH_VERSION}"
COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY workers ./workers
COPY m3tr_core ./m3tr_core
COPY benchmarks ./benchmarks
RUN pip install ".${EXTRAS}"

RUN useradd --create-home --uid 10001 m3tr && mkdir -p /data && chown m3tr /data
USER m3tr
VOLUME ["/data"]
EXPOSE 7860
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
    CMD curl -fsS http://127.0.0.1:7860/healthz || exit 1
CMD ["m3tr", "serve", "--host", "0.0.0.0", "--port", "7860", "--no-worker"]
