"""Every test uses its own BentoML home (model store, bentos) in a temp folder."""

import os
import sys
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def bento_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("bentoml")
    os.environ["BENTOML_HOME"] = str(home)
    os.environ["BENTOML_DO_NOT_TRACK"] = "true"
    os.environ["PATH"] = (
        f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    )
    return home


@pytest.fixture(scope="session")
def trained(bento_home, tmp_path_factory):
    """A model in the store and reference.parquet in a scratch working folder."""
    work = tmp_path_factory.mktemp("work")
    here = Path.cwd()
    os.chdir(work)
    try:
        import train

        tag = train.main()  # 1,200 held-out rows: the reference
    finally:
        os.chdir(here)
    return tag, work
