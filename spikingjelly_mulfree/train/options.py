"""``--data-option`` and ``--model-option`` checked against what the loader and network take.

Values are read as Python literals (``T=60`` an int, ``widths=(4,8)`` a tuple, ``download=True``
a bool); text that is no literal stays a string (``mode=pixels``). A key the loader or network
does not take is refused with the keys it does take; a value is checked against the
parameter's annotation (or, without one, the type of its default), so ``channels=abc`` is
refused before it reaches torch. Values the type allows but the loader or network rejects
(``mode=bogus``) come back from them as a ``ValueError`` that names the parameter;
:func:`named_error` turns those into :class:`~.config.ConfigError` naming the command-line
option, and leaves every other error alone.
"""
from __future__ import annotations

import collections.abc
import contextlib
import inspect
import types
import typing
from dataclasses import dataclass

from ..datasets.registry import dataset_builder
from .config import ConfigError

BUILD_DATASET_OWN = ("name", "root", "split", "augment")
SEQUENCES = (tuple, list, collections.abc.Sequence)


@dataclass(frozen=True)
class Accepted:
    """One keyword a loader or network takes: its default and the type it expects.

    ``hint`` is the resolved annotation (``None`` when there is nothing to check against);
    ``text`` names the type in messages.
    """

    default: object
    hint: object
    text: str


def _hints(obj: object) -> dict[str, object]:
    target = obj.__init__ if isinstance(obj, type) else obj
    try:
        return typing.get_type_hints(target)
    except (NameError, TypeError):
        return {}


def accepted_by(obj: object, skip: tuple[str, ...] = (),
                defaulted_only: bool = False) -> dict[str, Accepted]:
    """The keyword parameters of ``obj`` (a function or class), without ``skip`` and
    ``**kwargs``; with ``defaulted_only`` only those that have a default.

    Example:
        >>> def f(a, b: int = 3, *, c=None, **rest): ...
        >>> {k: (v.default, v.text) for k, v in accepted_by(f, skip=("a",)).items()}
        {'b': (3, 'int'), 'c': (None, 'any')}
    """
    hints = _hints(obj)
    accepted = {}
    for name, p in inspect.signature(obj).parameters.items():
        if name in skip or p.kind not in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
            continue
        if defaulted_only and p.default is p.empty:
            continue
        hint = hints.get(name)
        if hint is None and p.default not in (p.empty, None):
            hint = type(p.default)
        text = p.annotation if isinstance(p.annotation, str) else getattr(hint, "__name__", None)
        accepted[name] = Accepted(p.default, hint, text or "any")
    return accepted


def loader_options(dataset: str) -> dict[str, Accepted]:
    """What ``--data-option`` may set for ``dataset``: its builder's keywords beyond
    ``build_dataset``'s own; where the builder passes ``**options`` on to the dataset class it
    returns, that class's keywords with a default.

    Example:
        >>> sorted(loader_options("digits"))
        ['mode']
    """
    builder = dataset_builder(dataset)
    accepted = accepted_by(builder, BUILD_DATASET_OWN)
    takes_more = any(p.kind is p.VAR_KEYWORD
                     for p in inspect.signature(builder).parameters.values())
    returned = _hints(builder).get("return")
    if takes_more and isinstance(returned, type):
        accepted = {**accepted_by(returned, BUILD_DATASET_OWN, defaulted_only=True), **accepted}
    return accepted


def matches(value: object, hint: object) -> bool:
    """Whether ``value`` fits the annotation ``hint`` (unions, ``None``, sequences and their
    element type, ints where floats are expected; bools are not ints here).

    Example:
        >>> matches(3, float), matches("abc", int), matches((4, 8), tuple[int, int])
        (True, False, True)
    """
    if hint is None or hint is typing.Any:
        return True
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(matches(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if origin in SEQUENCES or hint in SEQUENCES:
        if not isinstance(value, (tuple, list)):
            return False
        args = [a for a in typing.get_args(hint) if a is not Ellipsis]
        return not args or all(matches(v, args[0]) for v in value)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True


def check_options(flag: str, owner: str, given: dict[str, object],
                  accepted: dict[str, Accepted],
                  set_elsewhere: collections.abc.Iterable[str] = ()) -> None:
    """Raise :class:`~.config.ConfigError` for a key ``owner`` does not take or a value of
    the wrong type, naming ``flag`` (``--data-option`` or ``--model-option``); the keys
    ``owner`` takes that are ``set_elsewhere`` (by the run itself) are left out of the list
    of what ``flag`` may set."""
    unknown = sorted(set(given) - set(accepted))
    if unknown:
        raise ConfigError(f"{flag}: {owner} has no option {unknown}; expected one of "
                          f"{sorted(set(accepted) - set(set_elsewhere))}")
    for key, value in given.items():
        spec = accepted[key]
        if not matches(value, spec.hint):
            raise ConfigError(
                f"{flag} {key}: expected {spec.text} (default {spec.default!r}), got "
                f"{value!r}; values are read as Python literals (quote text: {key}='...')")


@contextlib.contextmanager
def flag_errors(flags: dict[str, str]) -> collections.abc.Iterator[None]:
    """Re-raise a ``ValueError`` about an argument that the command line set as the
    :class:`~.config.ConfigError` :func:`named_error` makes of it; other errors pass unchanged.

    Example:
        >>> with flag_errors({"mode": "--data-option mode"}):
        ...     raise ValueError("mode: expected one of ('columns', 'pixels')")
        Traceback (most recent call last):
        ...
        spikingjelly_mulfree.train.config.ConfigError: --data-option mode: expected one of ...
    """
    try:
        yield
    except ValueError as err:
        named = named_error(err, flags)
        if named is None:
            raise
        raise named from err


def named_error(err: ValueError, flags: dict[str, str]) -> ConfigError | None:
    """``err`` as a :class:`~.config.ConfigError` naming the command-line option, when its
    message starts with the name of an argument the command line set (the package's errors
    start with the argument's name); ``None`` for any other error.

    Example:
        >>> named_error(ValueError("mode: expected one of ('columns', 'pixels')"),
        ...             {"mode": "--data-option mode"})
        ConfigError("--data-option mode: expected one of ('columns', 'pixels')")
    """
    name, sep, rest = str(err).partition(": ")
    if not sep or name not in flags:
        return None
    return ConfigError(f"{flags[name]}: {rest}")


def cli_message(err: BaseException, option_flag: str = "--data-option") -> str:
    """The message of ``err`` with the library's hints in command-line terms: a loader keyword
    it advises becomes ``option_flag KEY=VALUE``.

    Example:
        >>> cli_message(FileNotFoundError("or pass download=True to let torchvision fetch it"))
        'or pass --data-option download=True to let torchvision fetch it'
    """
    return str(err).replace("pass download=True", f"pass {option_flag} download=True")


def missing_root(err: ValueError, dataset: str, data_root: object) -> ConfigError | None:
    """``err`` as the command line's ``--data-root`` error when it is the loader's complaint
    that no root was given, else ``None``.

    Example:
        >>> print(missing_root(ValueError("root: expected a folder"), "shd", None))
        --data-root: data set 'shd' needs the folder that holds its files; pass --data-root PATH
    """
    if data_root is not None or not str(err).startswith("root: "):
        return None
    return ConfigError(f"--data-root: data set {dataset!r} needs the folder that holds its "
                       "files; pass --data-root PATH")
