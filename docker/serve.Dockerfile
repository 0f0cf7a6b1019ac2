# syntax=docker/dockerfile:1
# Model service image: the FastAPI app of chapter 5 under uvicorn (chapter 6).
#
# Build from the repository root:
#     docker build -f docker/serve.Dockerfile -t credit-serve:0.1.0 .
# Run it on a model file mounted read-only (the image holds code, not models); the
# folder also holds model.joblib.metadata.json, the threshold the pipeline's evaluate
# stage chose on validation (without it the service refuses: set MLOPS_THRESHOLD):
#     docker run --rm -p 127.0.0.1:8000:8000 -v "$PWD/models:/models:ro" \
#         -e MLOPS_MODEL_PATH=/models/model.joblib credit-serve:0.1.0
# or on the registry's champion, fetched from an MLflow tracking server over HTTP
# (the capstone's setup; mlflow-skinny has no SQLite store, so give it a server):
#     docker run --rm -p 127.0.0.1:8000:8000 \
#         -e MLOPS_MODEL_URI=models:/credit-default@champion \
#         -e MLOPS_TRACKING_URI=http://mlflow.internal:5000 credit-serve:0.1.0
# Inside the container the server binds 0.0.0.0:8000: the container has its own
# network namespace, and `-p` decides which host address and port reach it.
# Checked by hadolint and by `python -m mlops_course.dockerfiles`.

# ---- builder ---------------------------------------------------------------------------
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
# Dependencies first (cached until the lock changes), at the lock's versions: what
# serving imports, pyarrow for the Arrow batch endpoint, ONNX Runtime and skl2onnx
# for the ONNX engine, and mlflow-skinny with skops to load registry models
# (~50 MB; the full mlflow package, with its server and UI, would add ~160 MB more).
COPY requirements.lock ./
RUN pip install -c requirements.lock \
        numpy pandas scikit-learn httpx fastapi uvicorn pyarrow pydantic-settings \
        onnxruntime skl2onnx mlflow-skinny skops
COPY pyproject.toml README.md ./
COPY src/ src/
RUN pip install --no-deps .

# ---- runtime ---------------------------------------------------------------------------
FROM python:3.11.16-slim-bookworm@sha256:c425d915a89a6dcd3183b1797ad9bd8878caff5a417f6371c8df93c8ea8b727f AS runtime
LABEL org.opencontainers.image.title="credit-serve" \
      org.opencontainers.image.description="REST service for the course's credit-default model"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
RUN groupadd --system --gid 10001 mlops \
    && useradd --system --uid 10001 --gid mlops --no-create-home mlops
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
USER 10001:10001
EXPOSE 8000
# Healthy means ready: the model is loaded (/ready answers 200, else 503). slim images
# have no curl, so the check asks with the Python standard library.
HEALTHCHECK --interval=30s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8000/ready', timeout=2)"]
CMD ["uvicorn", "mlops_course.serving:app_from_env", "--factory", \
     "--host", "0.0.0.0", "--port", "8000"]
