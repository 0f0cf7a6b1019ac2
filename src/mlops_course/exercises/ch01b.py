"""Checks for chapter 1b's exercises (the same model in PyTorch)."""

from __future__ import annotations

import pandas as pd
import torch
from torch import nn

from mlops_course import modeling, torch_model
from mlops_course.exercises import exercise, expect, expect_type

WIDE = 64  # the exercise's hidden units


def _hidden_units(network: nn.Module) -> int:
    first = next((m for m in network.modules() if isinstance(m, nn.Linear)), None)
    return first.out_features if first is not None else 0


def _valid_loss(network: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    network.eval()
    with torch.no_grad():
        logits = network(x).squeeze(1)
    return nn.functional.binary_cross_entropy_with_logits(logits, y).item()


@exercise("ex-01b-1")
def early_stopping(network, history, stop_at, *, x_valid, y_valid, epochs) -> str:
    """A 64-unit network holding the weights of its lowest-validation-loss epoch."""
    expect_type(network, nn.Module, "the wide network, a torch nn.Module")
    expect(
        _hidden_units(network) == WIDE,
        f"the network's hidden layer has {_hidden_units(network)} units; the "
        f"exercise gives it {WIDE}",
    )
    expect_type(history, pd.DataFrame, "the learning curve `fit` returned")
    expect(
        {"train loss", "valid loss"} <= set(history.columns),
        f"the learning curve needs 'train loss' and 'valid loss', it has "
        f"{list(history.columns)}",
    )
    expect(
        len(history) == epochs,
        f"the learning curve has {len(history)} epochs; train for the same "
        f"{epochs} epochs as the chapter's network",
    )
    best = int(history["valid loss"].idxmin())
    expect(
        stop_at == best,
        f"early stopping keeps epoch {best}, the lowest validation loss, not "
        f"epoch {stop_at}: the training loss keeps falling while the network "
        "memorises the training period",
    )
    held = _valid_loss(network, x_valid, y_valid)
    recorded = float(history.loc[best, "valid loss"])
    expect(
        abs(held - recorded) < 1e-5,
        f"the network's validation loss is {held:.4f}, but epoch {best} had "
        f"{recorded:.4f}: it holds another epoch's weights; reload the checkpoint "
        "`fit` saved with load_state_dict",
    )
    return (
        f"{WIDE} hidden units, stopped at the epoch of lowest validation loss, and "
        "the network holds that epoch's weights"
    )


@exercise("ex-01b-2")
def seed_spread(seed_auc, networks, *, x_test, y_test) -> str:
    """The test AUC of networks that differ only by their seed."""
    expect_type(seed_auc, pd.Series, "a Series of test AUC by seed")
    expect_type(networks, dict, "a dict of the trained networks by seed")
    expect(
        len(seed_auc) >= 3 and seed_auc.index.is_unique,
        f"{len(seed_auc)} distinct seeds: train at least three networks, one per seed",
    )
    expect(
        set(networks) == set(seed_auc.index),
        f"the networks are for seeds {sorted(networks)}, the AUC for seeds "
        f"{sorted(seed_auc.index)}",
    )
    for s, network in networks.items():
        auc = modeling.score(
            y_test.numpy(), torch_model.predict_proba(network, x_test)
        )["roc_auc"]
        expect(
            abs(auc - float(seed_auc[s])) < 1e-6,
            f"seed {s}: your AUC is {float(seed_auc[s]):.4f}, but that network "
            f"scores {auc:.4f} on the test period: report the test AUC",
        )
    expect(
        seed_auc.nunique() > 1,
        "every seed gives the same AUC: the networks did not differ by their seed; "
        "seed both torch.manual_seed and the DataLoader's generator with it",
    )
    return (
        "one test AUC per seed: their spread is the part of a single run's score "
        "that is luck"
    )
