"""Screenshots of the MLflow UI for chapter 3, from the repository's own server.

    make mlflow-ui-images
    # or, from the repository root:
    # tools/offline .venv/bin/python -m tools.mlflow_ui_screenshot [OUT_DIR]

Starts a real ``mlflow server`` on 127.0.0.1 (``tracking.mlflow_server``, the
helper chapter 3 uses), logs runs into it over HTTP the way chapter 3 does (a
first run, a sweep over ``C`` as child runs nested under a parent, with every
hyper-parameter and the validation metrics, then a class-weighted run), opens
its UI in headless Chromium (Playwright driving Debian's Chromium, found on ``PATH``;
``playwright install`` is never needed) and writes two PNGs into
``book/images/``:

- ``mlflow_ui_runs.png``: the experiment's runs table, the sweep expanded;
- ``mlflow_ui_compare.png``: the sweep's child runs compared (parallel
  coordinates of ``model.C`` against ``valid_roc_auc``).

Everything stays on loopback; the store lives in a temporary folder that is
removed at the end. The images show run names, parameters and metrics, which
the seeded data make the same on every run; only the UI's relative start times
("x seconds ago") change.
"""

from __future__ import annotations

import argparse
import io
import re
import sys
import tempfile
from pathlib import Path

# The book check's browser settings: both find and start Chromium the same way.
from tools.browser import CHROMIUM_ARGS, find_chromium

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENT = "credit-default"
C_GRID = [0.0003, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0]  # chapter 3's default
MAX_BYTES = 300_000


def log_chapter_runs(n_rows: int = 8000, seed: int = 42) -> tuple[str, list[str]]:
    """Log chapter 3's first run and sweep; return (experiment id, child ids)."""
    import mlflow

    from mlops_course.data import generate_applications, time_split
    from mlops_course.modeling import features_and_target, make_model, score
    from mlops_course.serialization import as_model_input
    from mlops_course.tracking import data_fingerprint

    frame = generate_applications(n_rows, seed=seed)
    split = time_split(frame)
    X_train, y_train = features_and_target(split.train)
    X_valid, y_valid = features_and_target(split.valid)
    X_train, X_valid = as_model_input(X_train), as_model_input(X_valid)
    data_params = {
        "data.n_rows": n_rows,
        "data.seed": seed,
        "data.fingerprint": data_fingerprint(frame),
        "split.valid_fraction": 0.15,
        "split.test_fraction": 0.15,
    }

    def fit_and_log(run_name: str, *, nested: bool = False, **params) -> str:
        # Chapter 3's fit_and_log: every parameter, validation metrics only.
        fitted = make_model("logreg", **params).fit(X_train, y_train)
        all_params = fitted.named_steps["model"].get_params()
        with mlflow.start_run(run_name=run_name, nested=nested) as run:
            mlflow.log_params({f"model.{k}": v for k, v in all_params.items()})
            mlflow.log_params({"model.kind": "logreg", **data_params})
            metrics = score(y_valid, fitted.predict_proba(X_valid)[:, 1])
            mlflow.log_metrics({f"valid_{k}": v for k, v in metrics.items()})
        return run.info.run_id

    experiment = mlflow.set_experiment(EXPERIMENT)
    fit_and_log("logreg-first", C=1.0)
    children = []
    with mlflow.start_run(run_name="sweep-logreg-C"):
        mlflow.log_param("grid.C", C_GRID)
        for c in C_GRID:
            children.append(fit_and_log(f"C={c:g}", nested=True, C=c))
    fit_and_log("logreg-balanced", C=0.01, class_weight="balanced")
    return experiment.experiment_id, children


def save_png(png: bytes, path: Path) -> int:
    """Write ``png`` (palette-quantised if over MAX_BYTES); return its size."""
    if len(png) > MAX_BYTES:
        from PIL import Image

        image = Image.open(io.BytesIO(png)).convert("RGB")
        buffer = io.BytesIO()
        image.quantize(colors=128).save(buffer, format="PNG", optimize=True)
        png = buffer.getvalue()
    path.write_bytes(png)
    return len(png)


def _close_extras(page) -> None:
    """Close the assistant panel and switch the sidebar to classic model training."""
    close = page.get_by_role("button", name="Close")
    if close.count():
        close.first.click()
    training = page.get_by_text("Model training", exact=True)
    if training.count():
        training.first.click()


def _choose_columns(page, show: list[str], hide: list[str]) -> None:
    """Tick and untick columns in the runs table's "Columns" menu."""
    page.get_by_role("button", name="Columns").click()
    search = page.get_by_placeholder("Search columns")
    tree = page.get_by_test_id("column-selector-tree")
    for name, wanted in [(n, True) for n in show] + [(n, False) for n in hide]:
        search.fill(name)
        title = re.compile(f"^{re.escape(name)}$")
        node = tree.locator(".du-bois-light-tree-treenode").filter(
            has=page.locator(".du-bois-light-tree-title", has_text=title)
        )
        for _ in range(40):  # a matching group (e.g. Parameters) may be folded
            if node.count():
                break
            closed = tree.locator(".du-bois-light-tree-switcher_close")
            if closed.count():
                closed.first.click()
            page.wait_for_timeout(250)
        node.first.wait_for(timeout=10_000)
        box = node.first.locator(".du-bois-light-tree-checkbox")
        if ("checkbox-checked" in (box.get_attribute("class") or "")) != wanted:
            box.click()
    search.fill("")
    page.keyboard.press("Escape")


def screenshots(url: str, experiment_id: str, children: list[str], out: Path) -> None:
    """Drive headless Chromium through the runs table and the run comparison."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = find_chromium()
        if chromium is None:
            sys.exit("no Chromium on PATH: apt-get install chromium")
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(
                viewport={"width": 1400, "height": 760}, device_scale_factor=1
            )
            page.goto(f"{url}/#/experiments/{experiment_id}/runs")
            page.get_by_text("sweep-logreg-C").first.wait_for(timeout=60_000)
            _close_extras(page)
            _choose_columns(
                page,
                show=["model.C", "valid_roc_auc", "valid_log_loss"],
                hide=["Dataset", "Source", "Models"],
            )
            # Expand the parent run so the sweep's children show in the table.
            parent = page.locator(
                "[role=gridcell][col-id*='Run Name']", has_text="sweep-logreg-C"
            )
            parent.first.locator("button").first.click()
            page.get_by_text("C=0.01", exact=True).first.wait_for(timeout=30_000)
            page.wait_for_timeout(1500)
            size = save_png(page.screenshot(), out / "mlflow_ui_runs.png")
            print(f"mlflow_ui_runs.png: {size:,} bytes")

            runs = ",".join(f'"{r}"' for r in children)
            page.goto(
                f'{url}/#/compare-runs?runs=[{runs}]&experiments=["{experiment_id}"]'
            )
            page.get_by_text("Parallel Coordinates Plot").first.wait_for(timeout=60_000)
            page.wait_for_timeout(2500)
            size = save_png(page.screenshot(), out / "mlflow_ui_compare.png")
            print(f"mlflow_ui_compare.png: {size:,} bytes")
        finally:
            browser.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", type=Path, default=ROOT / "book" / "images")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    import mlflow

    from mlops_course.tracking import mlflow_server, quiet_mlflow

    quiet_mlflow()
    with (
        tempfile.TemporaryDirectory(prefix="mlflow-ui-") as folder,
        mlflow_server(Path(folder) / "mlflow") as server,
    ):
        mlflow.set_tracking_uri(server.url)
        experiment_id, children = log_chapter_runs()
        screenshots(server.url, experiment_id, children, args.out)


if __name__ == "__main__":
    sys.exit(main())
