"""Chapter 1b's exercise checks, on a right answer and on wrong ones."""

import pandas as pd
import pytest
import torch
from torch import nn

from mlops_course import modeling, torch_model
from mlops_course.exercises import ch01b


@pytest.fixture(scope="module")
def tensors():
    return torch_model.make_tensors(1_500, seed=1)


def train(t, hidden, seed, epochs=4, lr=1e-2):
    """A small version of the chapter's fit: history and best-epoch weights."""
    torch.manual_seed(seed)
    net = torch_model.CreditNet(t.x_train.shape[1], hidden)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    loss_fn = nn.BCEWithLogitsLoss()
    rows, best, best_state = [], float("inf"), None
    for epoch in range(1, epochs + 1):
        net.train()
        optimizer.zero_grad()
        loss = loss_fn(net(t.x_train).squeeze(1), t.y_train)
        loss.backward()
        optimizer.step()
        net.eval()
        with torch.no_grad():
            valid = loss_fn(net(t.x_valid).squeeze(1), t.y_valid).item()
        if valid < best:
            best, best_state = (
                valid,
                {k: v.clone() for k, v in net.state_dict().items()},
            )
        rows.append({"epoch": epoch, "train loss": loss.item(), "valid loss": valid})
    return net, pd.DataFrame(rows).set_index("epoch"), best_state


def test_early_stopping_accepts_the_best_epochs_weights(tensors):
    net, history, best_state = train(tensors, 64, seed=1)
    net.load_state_dict(best_state)
    stop_at = int(history["valid loss"].idxmin())
    context = {"x_valid": tensors.x_valid, "y_valid": tensors.y_valid, "epochs": 4}
    fb = ch01b.early_stopping(net, history, stop_at, **context)
    assert fb.ok is True, fb.message
    # The epoch of the lowest *training* loss is not what early stopping keeps.
    wrong = int(history["valid loss"].idxmax())
    fb = ch01b.early_stopping(net, history, wrong, **context)
    assert fb.ok is False
    assert f"early stopping keeps epoch {stop_at}, the lowest validation loss" in (
        fb.message
    )


def test_early_stopping_refuses_weights_not_reloaded(tensors):
    net, history, _ = train(tensors, 64, seed=1)
    history.loc[history.index[-1], "valid loss"] = 9.0  # the last epoch is not best
    fb = ch01b.early_stopping(
        net,
        history,
        int(history["valid loss"].idxmin()),
        x_valid=tensors.x_valid,
        y_valid=tensors.y_valid,
        epochs=4,
    )
    assert fb.ok is False
    assert "it holds another epoch's weights; reload the checkpoint" in fb.message


def test_early_stopping_refuses_the_chapters_16_units(tensors):
    net, history, _ = train(tensors, 16, seed=1)
    fb = ch01b.early_stopping(
        net, history, 1, x_valid=tensors.x_valid, y_valid=tensors.y_valid, epochs=4
    )
    assert fb.message == (
        "the network's hidden layer has 16 units; the exercise gives it 64"
    )


def test_seed_spread_accepts_test_auc_per_seed(tensors):
    nets = {s: train(tensors, 16, seed=s, epochs=2)[0] for s in (1, 2, 3)}
    auc = pd.Series(
        {
            s: modeling.score(
                tensors.y_test.numpy(), torch_model.predict_proba(n, tensors.x_test)
            )["roc_auc"]
            for s, n in nets.items()
        }
    )
    test = {"x_test": tensors.x_test, "y_test": tensors.y_test}
    fb = ch01b.seed_spread(auc, nets, **test)
    assert fb.ok is True, fb.message
    # The same networks scored on validation instead of test.
    on_valid = pd.Series(
        {
            s: modeling.score(
                tensors.y_valid.numpy(), torch_model.predict_proba(n, tensors.x_valid)
            )["roc_auc"]
            for s, n in nets.items()
        }
    )
    fb = ch01b.seed_spread(on_valid, nets, **test)
    assert fb.ok is False
    assert "on the test period: report the test AUC" in fb.message


def test_seed_spread_refuses_networks_that_share_a_seed(tensors):
    nets = {s: train(tensors, 16, seed=1, epochs=2)[0] for s in (1, 2, 3)}
    auc = pd.Series(
        {
            s: modeling.score(
                tensors.y_test.numpy(), torch_model.predict_proba(n, tensors.x_test)
            )["roc_auc"]
            for s, n in nets.items()
        }
    )
    fb = ch01b.seed_spread(auc, nets, x_test=tensors.x_test, y_test=tensors.y_test)
    assert fb.ok is False
    assert "the networks did not differ by their seed" in fb.message
