"""Chapter 6's exercise checks, on a right answer and on wrong ones."""

import pytest

from mlops_course import dvc_stages, shell
from mlops_course.exercises import ch06

GPU = """\
# syntax=docker/dockerfile:1
FROM pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime AS builder
ENV PIP_NO_CACHE_DIR=1
RUN python -m venv --system-site-packages /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /build
COPY requirements.lock ./
RUN pip install -c requirements.lock numpy pandas pyarrow pyyaml scikit-learn httpx
COPY pyproject.toml README.md ./
COPY src/ src/
RUN pip install --no-deps .

FROM pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime AS runtime
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1
RUN groupadd --system --gid 10001 mlops \\
    && useradd --system --uid 10001 --gid mlops --no-create-home mlops
COPY --from=builder /opt/venv /opt/venv
WORKDIR /project
USER 10001:10001
ENTRYPOINT ["python", "-m", "mlops_course.dvc_stages"]
CMD ["train"]
"""


def installed(name: str) -> bool:
    try:
        return bool(shell.executable(name))
    except FileNotFoundError:
        return False


needs_hadolint = pytest.mark.skipif(
    not installed("hadolint"), reason="hadolint is not installed"
)


def write(tmp_path, text):
    path = tmp_path / "Dockerfile"
    path.write_text(text)
    return path


@needs_hadolint
def test_gpu_dockerfile_accepts_the_two_stage_cuda_image(tmp_path):
    fb = ch06.gpu_dockerfile(write(tmp_path, GPU))
    assert fb.ok is True, fb.message


@needs_hadolint
def test_gpu_dockerfile_refuses_a_venv_blind_to_the_base_torch(tmp_path):
    text = GPU.replace("venv --system-site-packages", "venv")
    fb = ch06.gpu_dockerfile(write(tmp_path, text))
    assert fb.message == (
        "the venv does not see the image's PyTorch: create it with "
        "--system-site-packages, or pip would install a second torch without CUDA"
    )


@needs_hadolint
def test_gpu_dockerfile_refuses_a_cpu_base_and_a_root_user(tmp_path):
    text = GPU.replace(
        "FROM pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime AS runtime",
        "FROM python:3.11.16-slim-bookworm AS runtime",
    )
    fb = ch06.gpu_dockerfile(write(tmp_path, text))
    assert fb.ok is False
    assert "starts from python:3.11.16-slim-bookworm, not a CUDA-enabled" in (
        fb.message
    )
    fb = ch06.gpu_dockerfile(write(tmp_path, GPU.replace("USER 10001:10001\n", "")))
    assert fb.ok is False
    assert "runs-as-root" in fb.message


@pytest.fixture
def repo(tmp_path):
    repo = dvc_stages.init_repo(tmp_path / "dvc-repo")
    for version in (1, 2):
        (repo / "models").mkdir(exist_ok=True)
        (repo / "models" / "model.bin").write_bytes(bytes([version]) * 4096)
        if version == 1:
            shell.sh("dvc add -q models/model.bin", cwd=repo)
            shell.sh("git add models/model.bin.dvc models/.gitignore", cwd=repo)
            shell.sh("git commit -qm 'Model v1'", cwd=repo)
            shell.sh("git switch -q -c exp/model-v4", cwd=repo)
    return repo


def test_model_branch_accepts_a_new_pointer_on_the_branch(repo):
    shell.sh("dvc add -q models/model.bin", cwd=repo)
    shell.sh("git add models/model.bin.dvc", cwd=repo)
    shell.sh("git commit -qm 'Model v4'", cwd=repo)
    review = shell.sh("git diff main..exp/model-v4", cwd=repo)
    fb = ch06.model_branch(review, repo=repo)
    assert fb.ok is True, fb.message
    fb = ch06.model_branch("", repo=repo)
    assert fb.ok is False
    assert "your review text does not show the old and the new md5" in fb.message


def test_model_branch_refuses_the_model_bytes_in_git(repo):
    shell.sh("git add -f models/model.bin", cwd=repo)
    shell.sh("git commit -qm 'Model v4, in git'", cwd=repo)
    review = shell.sh("git diff main..exp/model-v4", cwd=repo)
    fb = ch06.model_branch(review, repo=repo)
    assert fb.message == (
        "exp/model-v4 commits models/model.bin itself: git now stores the model's "
        "bytes for ever; dvc add it and commit only its pointer"
    )
