# syntax=docker/dockerfile:1
# Training image for the credit-default pipeline (chapter 6).
#
# Build from the repository root (the build context is the checkout, filtered by
# .dockerignore):
#     docker build -f docker/train.Dockerfile -t credit-train:0.1.0 .
# Run one pipeline stage per container, in a project folder mounted at /project
# (params.yaml in, data and models out; nothing of it is baked into the image):
#     docker run --rm --user "$(id -u):$(id -g)" -v "$PWD:/project" credit-train:0.1.0 train
# Checked by hadolint and by `python -m mlops_course.containers`.

# ---- builder: everything needed to install, nothing that runs -------------------------
FROM python:3.11.7-slim-bookworm AS builder
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
FROM python:3.11.7-slim-bookworm AS runtime
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
ENTRYPOINT ["python", "-m", "mlops_course.pipeline"]
CMD ["train"]
