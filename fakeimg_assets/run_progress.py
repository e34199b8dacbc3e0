"""`fakeimg run`'s progress bar: one tqdm bar on stderr over the jobs it materializes (each
partition's sampling run, the model report, the detector chain), with the current one as
its description. Off when stderr is no terminal (pipes, CI, tests); log lines go above it.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from typing import Any


class JobProgress:
    """A bar over `total` jobs; `enabled=False` (or a stderr that is no TTY) shows nothing."""

    def __init__(self, total: int, *, enabled: bool = True, stream: Any = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.bar = None
        if enabled and getattr(self.stream, "isatty", lambda: False)():
            from tqdm import tqdm

            # a terminal that reports no size (a bare pty) would hide the bar: 80 x 24
            width = shutil.get_terminal_size((0, 0)).columns
            size = {"dynamic_ncols": True} if width > 0 else {"ncols": 80, "nrows": 24}
            self.bar = tqdm(total=total, unit="job", file=self.stream, **size,
                            bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} jobs "
                            "[{elapsed}<{remaining}]")

    @property
    def shown(self) -> bool:
        return self.bar is not None

    def wrap(self, log: Callable[[str], None]) -> Callable[[str], None]:
        """`log`, printing above the bar while it is shown."""
        if self.bar is None:
            return log

        def above(line: str) -> None:
            from tqdm import tqdm

            with tqdm.external_write_mode(file=self.stream):
                log(line)

        return above

    def start(self, what: str) -> None:
        if self.bar is not None:
            self.bar.set_description_str(what[:60], refresh=True)

    def done(self) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


__all__ = ["JobProgress"]
