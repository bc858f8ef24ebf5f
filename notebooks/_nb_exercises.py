"""Write (and execute) the exercise notebooks in ``notebooks/exercises/``.

    .venv/bin/python notebooks/_nb_exercises.py            # write + execute all of them
    .venv/bin/python notebooks/_nb_exercises.py --no-run   # write only

Each exercise notebook is the lesson's exercise as a learner meets it: the set-up, the task,
a TODO cell with the function's skeleton left blank (tagged ``todo``; its metadata names the
concept and the function), and after it a ``check(...)`` cell that grades the function against
PyTorch autograd and names the classic mistake. No solutions are in them.
``spot_the_bug.ipynb`` shows every catalogue mistake's signature: its trajectory against
autograd's and the step where it is caught. ``tests/test_exercise_notebooks.py`` executes them
with the reference solution and with every catalogue mistake filled in.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "exercises"

KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def md(text: str):
    return new_markdown_cell(text.strip())


def code(text: str):
    return new_code_cell(text.strip())


def todo(text: str, concept: str, function: str):
    cell = new_code_cell(text.strip())
    cell.metadata["tags"] = ["todo"]
    cell.metadata["exercise"] = {"concept": concept, "function": function}
    return cell


def check_cell(call: str):
    cell = new_code_cell(f"result = {call}\nprint(result)")
    cell.metadata["tags"] = ["check"]
    return cell


SETUP = '''
import numpy as np

from gd_compare.learner.check import check


def sigmoid(x):
    """Calculate sigmoid"""
    return 1 / (1 + np.exp(-x))


def sigmoid_prime(x):
    """Derivative of the sigmoid function"""
    return sigmoid(x) * (1 - sigmoid(x))
'''

HOW = """
**How this works.** Fill in the TODO cell, run it, then run the `check(...)` cell under it. It
runs *your* function in lockstep with PyTorch autograd (which writes no derivative by hand),
from the same state at every step, and stops at the first step where your result differs: it
shows the step, the quantity, both values — and, when your step is one of the classic mistakes,
its name and the fix. `result.passed` is `True` when every step agrees.
"""


def sigmoid_exercise() -> list:
    return [
        md("# Exercise · one gradient descent step\n\n" + HOW),
        code(SETUP),
        md("""
One sigmoid neuron: input `x = [1, 2, 3, 4]`, target `y = 0.5`, weights
`w = [0.5, -0.5, 0.3, 0.1]`, learning rate 0.5. Write the function that returns the change in
weights `del_w` of one gradient descent step:

h = x·w, ŷ = sigmoid(h), error = y − ŷ, error_term = error·sigmoid'(h),
del_w = learnrate·error_term·x.
"""),
        todo('''
def sigmoid_exercise(x, y, weights, learnrate):
    # TODO: Calculate the node's linear combination of inputs and weights
    h = None

    # TODO: Calculate output of neural network
    nn_output = None

    # TODO: Calculate error of neural network
    error = None

    # TODO: Calculate the error term
    error_term = None

    # TODO: Calculate change in weights
    del_w = None

    return del_w
''', "sigmoid_exercise", "sigmoid_exercise"),
        check_cell('check(sigmoid_exercise, "sigmoid_exercise")'),
    ]


def mse_training() -> list:
    return [
        md("# Exercise · gradient descent on the admissions data\n\n" + HOW),
        code(SETUP),
        md("""
Write **one epoch** of the lesson's training loop: for every record, the output, the error,
the error term and its contribution to `del_w`; after the loop, one update of the weights with
the learning rate and the *average* change (`n_records`). The check runs your epoch 1000 times
(the lesson's run: the admissions data, weights drawn with seed 42, learning rate 0.5), each
time from autograd's weights. Updating `weights` in place (`weights += ...`) is fine.
"""),
        todo('''
def train_epoch(features, targets, weights, learnrate):
    n_records = features.shape[0]
    del_w = np.zeros(weights.shape)
    for x, y in zip(features, targets):
        # TODO: Calculate the output
        output = None

        # TODO: Calculate the error
        error = None

        # TODO: Calculate the error term
        error_term = None

        # TODO: Calculate the change in weights for this sample
        #       and add it to the total weight change
        del_w += None

    # TODO: Update weights using the learning rate and the average change in weights
    weights += None
    return weights
''', "mse_training", "train_epoch"),
        check_cell('check(train_epoch, "mse_training")'),
    ]


def backprop() -> list:
    return [
        md("# Exercise · backpropagation\n\n" + HOW),
        code(SETUP),
        md("""
The course's network: the admissions data's 6 inputs, 2 hidden sigmoid units, one sigmoid
output, no biases; weights drawn with seed 21. Write **one epoch** of backpropagation, record by
record: the forward pass, the output error term, the hidden error term (the output error term
sent back through `weights_hidden_output`, times the hidden units' sigmoid'), the two `del_w`
sums, and after the loop one update of both layers with the average change. Return both weight
arrays. The check runs 900 epochs at lr 0.005, as the course did.
"""),
        todo('''
def train_epoch(features, targets, weights_input_hidden, weights_hidden_output, learnrate):
    n_records = features.shape[0]
    del_w_input_hidden = np.zeros(weights_input_hidden.shape)
    del_w_hidden_output = np.zeros(weights_hidden_output.shape)
    for x, y in zip(features, targets):
        # TODO: the forward pass
        hidden_input = None
        hidden_output = None
        output = None

        # TODO: the backward pass
        error = None
        output_error_term = None
        hidden_error = None
        hidden_error_term = None

        # TODO: add this record's change to both del_w
        del_w_hidden_output += None
        del_w_input_hidden += None

    # TODO: update both layers with the learning rate and the average change
    weights_input_hidden += None
    weights_hidden_output += None
    return weights_input_hidden, weights_hidden_output
''', "backprop", "train_epoch"),
        check_cell('check(train_epoch, "backprop")'),
    ]


def backprop_exercise() -> list:
    return [
        md("# Exercise · one step of backpropagation\n\n" + HOW),
        code(SETUP),
        md("""
The course's exercise: a network with 3 inputs, 2 hidden sigmoid units and one sigmoid output,
no biases. `x = [0.5, 0.1, -0.2]`, `target = 0.6`, learning rate 0.5,
`weights_input_hidden = [[0.5, -0.6], [0.1, -0.2], [0.1, 0.7]]`,
`weights_hidden_output = [0.1, -0.3]`. Return the changes of both weight arrays after one
step, `delta_w_i_h` (shape (3, 2)) and `delta_w_h_o` (shape (2,)).
"""),
        todo('''
def backprop_exercise(x, target, weights_input_hidden, weights_hidden_output, learnrate):
    # TODO: Make a forward pass through the network
    hidden_layer_input = None
    hidden_layer_output = None
    output_layer_in = None
    output = None

    # TODO: Calculate output error
    error = None

    # TODO: Calculate error term for output layer
    output_error_term = None

    # TODO: Calculate error term for hidden layer
    hidden_error_term = None

    # TODO: Calculate change in weights for hidden layer to output layer
    delta_w_h_o = None

    # TODO: Calculate change in weights for input layer to hidden layer
    delta_w_i_h = None

    return delta_w_i_h, delta_w_h_o
''', "backprop_exercise", "backprop_exercise"),
        check_cell('check(backprop_exercise, "backprop_exercise")'),
    ]


def spot_the_bug() -> list:
    return [
        md("""
# Spot the bug · every classic mistake against autograd

Each entry of `gd_compare.learner.mistakes` is a deliberately wrong, learner-shaped function. Below,
every mistake in the lesson's training loop (`mse_training`: one epoch per call) runs **on its
own** for 60 epochs from the lesson's start, next to autograd's run: its train-MSE curve is
its signature. Most look harmless on a plot (a slightly slower or faster curve); `check` finds
each one at the first step where it matters and names it.
"""),
        code('''
import matplotlib.pyplot as plt
import numpy as np

from gd_compare.learner.check import catalogue_table, check, run_catalogue
from gd_compare.learner.mistakes import for_concept
from gd_compare.lesson.data import initial_weights, load_admissions
from gd_compare.numpy_backend import by_hand
from gd_compare.show.plots import display_png
from gd_compare.torch_backend import autograd

X, y, _, _ = load_admissions().arrays()
start = initial_weights(X.shape[1])
EPOCHS = 60
reference = autograd.mse_training(X, y, start, lr=0.5, epochs=EPOCHS)
'''),
        code('''
def trajectory(fn, epochs=EPOCHS, lr=0.5):
    """The train MSE before each epoch when the wrong function trains on its own."""
    weights, losses = start.copy(), []
    with np.errstate(all="ignore"):
        for _ in range(epochs):
            losses.append(by_hand.mse(X, y, weights) if np.isfinite(weights).all() else np.nan)
            out = fn(X.copy(), y.copy(), weights.copy(), lr)
            weights = np.asarray(out[0] if isinstance(out, tuple) else out, dtype=float)
    return np.array(losses)


entries = for_concept("mse_training")
fig, axes = plt.subplots(4, 4, figsize=(13, 11), sharex=True)
for ax, m in zip(axes.flat, entries):
    caught = check(m.learner(), "mse_training", epochs=5)
    ax.plot(reference.losses, color="k", lw=2, label="autograd")
    ax.plot(trajectory(m.learner()), color="tab:red", lw=1.2, ls="--", label="mistake")
    ax.axvline(caught.step - 1, color="tab:blue", lw=0.8)
    ax.set_title(f"{m.title}\\ncaught at step {caught.step}", fontsize=8)
    ax.tick_params(labelsize=7)
for ax in list(axes.flat)[len(entries):]:
    ax.axis("off")
axes.flat[0].legend(fontsize=7)
fig.supxlabel("epoch (blue: the step check() stops at)")
fig.supylabel("train MSE")
fig.tight_layout()
display_png(fig)
'''),
        md("""
The same for backpropagation (`backprop`: one epoch per call, the course's network, lr 0.5 so
that 60 epochs move it): the hidden layer's mistakes barely change the loss curve.
"""),
        code('''
from gd_compare.lesson.data import initial_network_weights

network = initial_network_weights(X.shape[1], (2,), seed=21)
net_reference = autograd.backprop_training(X, y, network, lr=0.5, epochs=EPOCHS)


def network_trajectory(fn, epochs=EPOCHS, lr=0.5):
    w_ih, w_ho, losses = network[0].copy(), network[1].copy(), []
    for _ in range(epochs):
        losses.append(by_hand.network_mse(X, y, (w_ih, w_ho)))
        w_ih, w_ho = fn(X.copy(), y.copy(), w_ih.copy(), w_ho.copy(), lr)
    return np.array(losses)


entries = for_concept("backprop")
fig, axes = plt.subplots(1, len(entries), figsize=(13, 3.4))
for ax, m in zip(axes, entries):
    caught = check(m.learner(), "backprop", epochs=5, lr=0.5)
    ax.plot(net_reference.losses, color="k", lw=2, label="autograd")
    ax.plot(network_trajectory(m.learner()), color="tab:red", lw=1.2, ls="--", label="mistake")
    ax.set_title(f"{m.title}\\ncaught at step {caught.step}", fontsize=8)
    ax.tick_params(labelsize=7)
axes[0].legend(fontsize=7)
axes[0].set_ylabel("train MSE")
fig.tight_layout()
display_png(fig)
'''),
        md("""
Which curve is which? "lr applied twice" and "the sigmoid' factor missing" both just learn
more slowly or faster; "the loss logged after the update" has the very same weights as
autograd (its curve lies on top) — only the loss it reports is off; "`del_w` not reset" and
"forgot `zero_grad()`" are right for one epoch and then accelerate. The whole catalogue, each
entry checked as a learner's function — the step it is caught at and the computed diagnosis:
"""),
        code('''
from IPython.display import Markdown

Markdown(catalogue_table(run_catalogue()))
'''),
    ]


EXERCISES = {
    "01_sigmoid_exercise.ipynb": sigmoid_exercise,
    "02_mse_training.ipynb": mse_training,
    "03_backprop.ipynb": backprop,
    "04_backprop_exercise.ipynb": backprop_exercise,
    "spot_the_bug.ipynb": spot_the_bug,
}


def build(name: str):
    nb = new_notebook(cells=EXERCISES[name]())
    for i, cell in enumerate(nb.cells):  # stable ids
        cell.id = f"ex{name[:2]}-{i:02d}"
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def execute(nb, timeout: int = 600):
    from nbclient import NotebookClient

    os.environ.setdefault("MPLBACKEND", "Agg")
    path = os.environ.get("PYTHONPATH", "")
    if str(ROOT) not in path.split(os.pathsep):
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), path) if p)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": str(OUT)}})
    client.execute()
    return nb


def main(argv: list[str]) -> int:
    run = "--no-run" not in argv
    names = [a for a in argv if a.endswith(".ipynb")] or list(EXERCISES)
    OUT.mkdir(exist_ok=True)
    for name in names:
        nb = build(name)
        if run:
            execute(nb)
        path = OUT / name
        nbformat.write(nb, path)
        print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size / 1024:.0f} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
