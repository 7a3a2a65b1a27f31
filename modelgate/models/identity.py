"""The sha256 that names a model: of its file, or of every file of a model folder."""

from __future__ import annotations

import hashlib
from pathlib import Path

from modelgate.digest import file_sha256
from modelgate.errors import ModelLoadError

MAX_FILES = 10_000


def tree_files(folder: Path) -> list[Path]:
    """Every regular file under `folder`, sorted by relative path; symlinks are refused, so a
    folder cannot pull in (or hide behind) a file from elsewhere."""
    files = []
    for path in sorted(folder.rglob("*")):
        if path.is_symlink():
            raise ModelLoadError(
                f"the model folder holds a symlink ({path.relative_to(folder)})", file=folder
            )
        if path.is_file():
            files.append(path)
        if len(files) > MAX_FILES:
            raise ModelLoadError(f"the model folder holds over {MAX_FILES} files", file=folder)
    return files


def model_sha256(path: Path) -> str:
    """A file's sha256; for a folder, the sha256 of its `relative/path sha256` lines, so a
    renamed, added or changed file changes the digest."""
    if not path.is_dir():
        return file_sha256(path)
    lines = [f"{p.relative_to(path).as_posix()} {file_sha256(p)}\n" for p in tree_files(path)]
    return hashlib.sha256("".join(lines).encode("utf-8")).hexdigest()
