"""A network's size is bounded (``core.MAX_NETWORK_WEIGHTS``): a typo such as ``hidden=99999999``
is refused by name at once, in the API and the CLI, instead of exhausting the memory."""

from __future__ import annotations

import numpy as np
import pytest

from gd_compare import compare
from gd_compare import numpy_backend as nb
from gd_compare.cli.run import main
from gd_compare.lesson.core import MAX_NETWORK_WEIGHTS, check_hidden
from gd_compare.lesson.data import initial_network_weights


def test_the_bound_counts_every_weight():
    # 6 inputs → 1000 → 1000 → output: 6000 + 1,000,000 + 1000 weights
    assert check_hidden((1000, 1000), 6) == (1000, 1000)
    edge = MAX_NETWORK_WEIGHTS // 7  # 6·h + h weights
    assert check_hidden(edge, 6) == (edge,)
    with pytest.raises(ValueError, match=r"hidden: expected layer sizes giving at most "
                       r"10,000,000 weights, got hidden=\(1428572,\): 10,000,004 weights on 6 "
                       r"inputs"):
        check_hidden(edge + 1, 6)
    with pytest.raises(ValueError, match=r"hidden=\(4000, 4000\): 16,008,000 weights on one "
                       r"input, at least"):
        check_hidden((4000, 4000))


@pytest.mark.parametrize("call", [
    lambda: initial_network_weights(6, 99999999),
    lambda: compare("backprop", hidden=(99999999,), backends=(nb, nb)),
    lambda: nb.backprop_training(np.ones((4, 6)), np.ones(4), None, hidden=(2_000_000,),
                                 epochs=1),
])
def test_the_api_refuses_a_huge_network_before_allocating(call):
    with pytest.raises(ValueError, match="hidden: expected layer sizes giving at most 10,000,000 "
                       "weights"):
        call()


@pytest.mark.parametrize("argv", [["--hidden", "99999999", "--concept", "backprop"],
                                  ["plot", "--hidden", "3000,4000", "--concept", "backprop"]])
def test_the_cli_refuses_it_as_a_usage_error(argv, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "hidden: expected layer sizes giving at most 10,000,000 weights" in err
    assert err.count("\n") == 1 and "Traceback" not in err
