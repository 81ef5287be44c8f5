"""Training command line and loop for the paper's benchmarks.

``python -m spikingjelly_mulfree.train`` (no arguments) trains CPSN and a LIF baseline on the
bundled 8x8 digits; ``--dataset {digits,shd,dvs-lip,scifar10,scifar100,pcifar10}`` picks a
benchmark whose defaults are the paper's hyper-parameters (see
:mod:`spikingjelly_mulfree.train.config`). Under ``torchrun`` it trains with DDP.
"""
from .config import RECIPES, Recipe, TrainConfig, build_parser, resolve
from .trainer import default_model_builder, fit

__all__ = ["RECIPES", "Recipe", "TrainConfig", "build_parser", "default_model_builder", "fit",
           "resolve"]
