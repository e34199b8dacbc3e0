"""`SHA256SUMS`: one `sha256sum` line per file of the export (all but itself).

`sha256sum -c SHA256SUMS` run inside the folder verifies it; `verify_sums` does the same in
Python and names every file that is missing, changed, or not listed.
"""

from __future__ import annotations

from pathlib import Path

from fakeimg_assets.lib.paths import sha256_file

SUMS_NAME = "SHA256SUMS"


def listed_files(folder: Path) -> list[str]:
    """Every regular file under `folder` (posix paths, sorted) but SHA256SUMS itself."""
    out = []
    for path in sorted(folder.rglob("*")):
        if path.is_symlink():
            raise ValueError(f"{path} is a symlink: an export holds plain files only")
        if path.is_file():
            rel = path.relative_to(folder).as_posix()
            if rel != SUMS_NAME:
                out.append(rel)
    return out


def write_sums(folder: Path) -> Path:
    lines = [f"{sha256_file(folder / rel)}  {rel}\n" for rel in listed_files(folder)]
    path = folder / SUMS_NAME
    path.write_text("".join(lines), encoding="utf-8")
    return path


def read_sums(folder: Path) -> dict[str, str]:
    """`{path: sha256}` of the folder's SHA256SUMS (ValueError naming a malformed line)."""
    out = {}
    for n, line in enumerate((folder / SUMS_NAME).read_text(encoding="utf-8").splitlines(), 1):
        digest, sep, rel = line.partition("  ")
        if not sep or len(digest) != 64 or not rel:
            raise ValueError(f"{folder / SUMS_NAME} line {n} is not `<sha256>  <path>`")
        out[rel] = digest
    return out


def verify_sums(folder: Path) -> list[str]:
    """Problems, one line each (empty: every file listed, present and unchanged)."""
    listed = read_sums(folder)
    problems = [f"{rel}: missing" for rel in listed if not (folder / rel).is_file()]
    problems += [f"{rel}: sha256 differs" for rel, digest in listed.items()
                 if (folder / rel).is_file() and sha256_file(folder / rel) != digest]
    problems += [f"{rel}: not listed" for rel in listed_files(folder) if rel not in listed]
    return problems
