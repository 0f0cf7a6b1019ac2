"""The model card says what the pipeline measured, and nothing typed by hand."""

from src.model_card import KEYS, render

PARAMS = {
    "prepare": {"valid_fraction": 0.15, "test_fraction": 0.25},
    "train": {"kind": "logreg", "seed": 0, "C": 1.0},
}
METRICS = {
    "threshold": 0.27,
    "valid": dict.fromkeys(KEYS, 0.5),
    "test": {"roc_auc": 0.7123, "average_precision": 0.3, "brier": 0.1,
             "expected_cost": 0.4},
}  # fmt: skip


def test_the_card_quotes_the_metrics_threshold_and_data_hash():
    card = render("credit", PARAMS, METRICS, "0" * 32)
    assert card.startswith("# Model card: credit")
    assert "| test | 0.7123 |" in card
    assert "threshold 0.27" in card
    assert "0" * 32 in card
    for section in ("Intended use", "Training data", "Metrics", "Limitations"):
        assert f"## {section}" in card
