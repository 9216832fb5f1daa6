# m3tr images, multi-stage. Every version comes from constraints.txt (the lock file the tests
# passed with); torch comes from the PyTorch index that matches the image.
#
#   docker build -t m3tr:cpu .                          # target runtime-cpu (the last stage)
#   docker build -t m3tr:gpu --target runtime-gpu .     # CUDA, mamba-ssm's kernel built here
#
# One image runs every role; the command picks it (docker-compose.yml): `serve`, `worker
# --queues ...`, `db upgrade`. The entry point (docker/entrypoint.sh) applies the migrations
# shipped inside the package, then runs `m3tr <command>`. Runs as the unprivileged user m3tr.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG CUDA_DEVEL_IMAGE=nvidia/cuda:12.8.1-cudnn-devel-ubuntu24.04
ARG CUDA_RUNTIME_IMAGE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04

# ---------------------------------------------------------------------------------------------
# wheel: the project's wheel (pure Python; the migrations travel inside it as package data)
FROM ${PYTHON_IMAGE} AS wheel
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY m3tr ./m3tr
RUN pip wheel --no-deps --wheel-dir /dist .

# ---------------------------------------------------------------------------------------------
# builder (CPU): compilers for any sdist among the dependencies; the venv copied into runtime-cpu
FROM ${PYTHON_IMAGE} AS builder
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential pkg-config \
 && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY constraints.txt /tmp/constraints.txt
# torch alone from the index of this image's build (never a default-index CUDA torch on CPU);
# its dependencies then come with the wheel's, from PyPI at the lock's versions
RUN pip install --no-deps -c /tmp/constraints.txt --index-url "${TORCH_INDEX}" "torch==${TORCH_VERSION}"
COPY --from=wheel /dist /dist
RUN pip install -c /tmp/constraints.txt /dist/m3tr-*.whl && pip check

# ---------------------------------------------------------------------------------------------
# builder-gpu: CUDA torch, then mamba-ssm's selective-scan kernel compiled
# against it (--no-build-isolation: they must see the installed torch), faiss-gpu in place of
# faiss-cpu (both install the module `faiss`)
FROM ${CUDA_DEVEL_IMAGE} AS builder-gpu
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX=https://download.pytorch.org/whl/cu128
# GPU generations to compile for (Ampere, Ada, Hopper); MAX_JOBS bounds nvcc's memory
ARG TORCH_CUDA_ARCH_LIST="8.0;8.6;8.9;9.0"
ARG MAX_JOBS=4
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 \
    TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST} MAX_JOBS=${MAX_JOBS} \
    MAMBA_FORCE_BUILD=TRUE CAUSAL_CONV1D_FORCE_BUILD=TRUE
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv python3-dev \
      build-essential ninja-build git \
 && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY constraints.txt /tmp/constraints.txt
# the CUDA torch alone; its nvidia-* libraries and triton come from PyPI with the wheel's deps
RUN pip install --no-deps -c /tmp/constraints.txt --index-url "${TORCH_INDEX}" "torch==${TORCH_VERSION}"
COPY --from=wheel /dist /dist
RUN pip install -c /tmp/constraints.txt /dist/m3tr-*.whl \
 && pip install -c /tmp/constraints.txt packaging wheel setuptools ninja \
 && pip install -c /tmp/constraints.txt --no-build-isolation "mamba-ssm>=2.2" \
 && pip uninstall -y faiss-cpu \
 && pip install -c /tmp/constraints.txt "faiss-gpu-cu12>=1.8" \
 && python -c "import mamba_ssm.ops.selective_scan_interface as s; print('mamba-ssm kernel', s.__name__)"

# ---------------------------------------------------------------------------------------------
# runtime-gpu: CUDA runtime libraries only, no compilers
FROM ${CUDA_RUNTIME_IMAGE} AS runtime-gpu
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 libgomp1 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 m3tr && mkdir -p /data /models && chown m3tr /data /models
COPY --from=builder-gpu /opt/venv /opt/venv
COPY docker/entrypoint.sh /usr/local/bin/m3tr-entrypoint
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 M3TR_HOME=/data HF_HOME=/models/hf M3TR_DEVICE=cuda
USER m3tr
WORKDIR /data
VOLUME ["/data", "/models"]
ENTRYPOINT ["m3tr-entrypoint"]
CMD ["worker", "--queues", "gpu", "--concurrency", "1", "--pool", "solo"]

# ---------------------------------------------------------------------------------------------
# runtime-cpu (default target): slim Python, the builder's venv, no compilers
FROM ${PYTHON_IMAGE} AS runtime-cpu
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgomp1 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 m3tr && mkdir -p /data /models && chown m3tr /data /models
COPY --from=builder /opt/venv /opt/venv
COPY docker/entrypoint.sh /usr/local/bin/m3tr-entrypoint
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 M3TR_HOME=/data HF_HOME=/models/hf
USER m3tr
WORKDIR /data
VOLUME ["/data", "/models"]
EXPOSE 7860
# /healthz answers 503 when the database, the broker or the vector store is down
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:7860/healthz', timeout=8)"]
ENTRYPOINT ["m3tr-entrypoint"]
CMD ["serve", "--host", "0.0.0.0", "--port", "7860", "--no-worker"]
