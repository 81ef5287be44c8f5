"""Errors shared by the loaders: missing data (with the expected layout and where to get it)
and unreadable files (naming the file)."""
from __future__ import annotations

import os


class DatasetNotFoundError(FileNotFoundError):
    """The data set's files are not where the loader looks for them.

    Example:
        >>> from spikingjelly_mulfree.datasets import build_dataset
        >>> try:
        ...     build_dataset("shd", root="/nonexistent", split="test")
        ... except DatasetNotFoundError as err:
        ...     print(str(err).splitlines()[1])
        Expected layout under root:
    """


class CorruptDatasetError(RuntimeError):
    """A data file exists but cannot be read completely.

    Example:
        >>> import os, tempfile
        >>> from spikingjelly_mulfree.datasets import build_dataset
        >>> root = tempfile.mkdtemp()
        >>> os.makedirs(os.path.join(root, "SHD"))
        >>> _ = open(os.path.join(root, "SHD", "shd_test.h5"), "wb").write(b"not hdf5")
        >>> try:
        ...     build_dataset("shd", root=root, split="test")
        ... except CorruptDatasetError as err:
        ...     print("cannot read this data file" in str(err))
        True
    """


def missing(name: str, expected: str, layout: str, source: str, download_hint: str = "") -> \
        DatasetNotFoundError:
    """Build the error for a data set whose files are missing.

    Args:
        name: the data set's name as given to ``build_dataset``.
        expected: the path that was looked for.
        layout: the folder layout the loader expects, one path per line.
        source: where to get the data.
        download_hint: how to let the library download it, if it can.
    """
    lines = [
        f"{name}: data not found at {expected!r}.",
        "Expected layout under root:",
        *("    " + line for line in layout.strip().splitlines()),
        f"Get the data from: {source}",
    ]
    if download_hint:
        lines.append(download_hint)
    return DatasetNotFoundError("\n".join(lines))


def corrupt(path: str | os.PathLike, problem: object) -> CorruptDatasetError:
    """Build the error for a file that exists but cannot be read."""
    return CorruptDatasetError(
        f"{os.fspath(path)}: cannot read this data file ({problem}); it is probably truncated or "
        "corrupt: delete it and copy or download it again"
    )


def require_root(name: str, root: str | os.PathLike | None) -> str:
    """Return ``root`` as an absolute path, or raise when the caller gave none."""
    if root is None:
        raise ValueError(
            f"root: data set {name!r} needs the folder that holds its files; pass "
            f"build_dataset({name!r}, root=PATH) (the training CLI: --data-root PATH)"
        )
    return os.path.abspath(os.path.expanduser(os.fspath(root)))
