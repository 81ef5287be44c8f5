"""Training command line and loop for the paper's benchmarks.

``python -m spikingjelly_mulfree.train`` with no arguments (``make demo``) trains CPSN and, the
same way, a LIF baseline on scikit-learn's bundled 8x8 digits, then prints both test
accuracies side by side. ``--dataset`` picks a benchmark whose defaults are the paper's
hyper-parameters (:mod:`spikingjelly_mulfree.train.config`); ``--neuron`` and ``--compare``
choose the neurons (``cpsn``, ``psn``, ``sliding_psn``, ``lif``, ``plif``).

The paper's four experiments, with the data placed as the loaders document
(:mod:`spikingjelly_mulfree.datasets`), and the accuracy the paper reports for CPSN:

* SHD (paper: 95.50 %): ``python -m spikingjelly_mulfree.train --dataset shd --data-root D``
* sequential CIFAR-10 (91.17 %): ``... --dataset scifar10 --data-root D``
* sequential CIFAR-100 (66.21 %): ``... --dataset scifar100 --data-root D``
* pixel CIFAR-10 (84.89 %): ``... --dataset pcifar10 --data-root D``
* DVS-Lip (70.9 %): ``... --dataset dvs-lip --data-root D``

Add ``--compare psn lif`` for baselines trained the same way, ``--amp`` on a GPU, and launch
with ``torchrun --nproc_per_node=G -m spikingjelly_mulfree.train ...`` for data-parallel
training (``--batch-size`` stays the global batch). Each neuron's run writes
``<out>/<neuron>/{checkpoint.pt, metrics.csv, results.json, tensorboard/}``
(``--out`` defaults to ``runs/<dataset>``); ``--resume`` continues from the checkpoint (with
the options the run started with) and ``--stop-after E`` splits a long run into jobs of ``E``
epochs.
"""
from .config import RECIPES, ConfigError, Recipe, TrainConfig, build_parser, resolve
from .trainer import default_model_builder, fit

__all__ = ["RECIPES", "ConfigError", "Recipe", "TrainConfig", "build_parser",
           "default_model_builder", "fit", "resolve"]
