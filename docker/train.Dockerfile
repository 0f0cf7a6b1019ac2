# syntax=docker/dockerfile:1
# Training image for the credit-default pipeline (chapter 6).
#
# Build from the repository root (the build context is the checkout, filtered by
# .dockerignore):
#     docker build -f docker/train.Dockerfile -t credit-train:0.1.0 .
# Run one pipeline stage per container, in a project folder mounted at /project
# (params.yaml in, data and models out; nothing of it is baked into the image):
#     docker run --rm --user "$(id -u):$(id -g)" -v "$PWD:/project" credit-train:0.1.0 train
# Checked by hadolint and by `python -m mlops_course.dockerfiles`.

# ---- builder: everything needed to install, nothing that runs -------------------------
# The base image, pinned by digest: a tag such as 3.11.16-slim-bookworm is moved to
# every rebuild (Debian security updates), the digest names one set of bytes. This is
# the multi-architecture index digest docker-library/repo-info recorded for the tag on
# 1 Sep 2026 (repos/python/remote/3.11.16-slim-bookworm.md). Refresh it, with the tag,
# when patches land: `docker buildx imagetools inspect python:3.11-slim-bookworm`.
FROM python:3.11.16-slim-bookworm@sha256:c425d915a89a6dcd3183b1797ad9bd8878caff5a417f6371c8df93c8ea8b727f AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /build
# Dependencies first: this layer is reused until requirements.lock changes.
# `-c requirements.lock` installs only what training imports, at the lock's versions.
COPY requirements.lock ./
RUN pip install -c requirements.lock \
        numpy pandas pyarrow pyyaml scikit-learn httpx
# The course package next: a code change rebuilds only the layers from here on.
COPY pyproject.toml README.md ./
COPY src/ src/
RUN pip install --no-deps .

# ---- runtime: the venv and a non-root user, no compilers, no pip cache -----------------
FROM python:3.11.16-slim-bookworm@sha256:c425d915a89a6dcd3183b1797ad9bd8878caff5a417f6371c8df93c8ea8b727f AS runtime
LABEL org.opencontainers.image.title="credit-train" \
      org.opencontainers.image.description="Training stages of the course's credit-default model"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
RUN groupadd --system --gid 10001 mlops \
    && useradd --system --uid 10001 --gid mlops --no-create-home mlops
COPY --from=builder /opt/venv /opt/venv
WORKDIR /project
USER 10001:10001
ENTRYPOINT ["python", "-m", "mlops_course.dvc_stages"]
CMD ["train"]
