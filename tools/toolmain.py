"""How the Python tools under tools/ speak and end: every line they print
prefixed with the tool's name (`copyright: ...`), a failure told on stderr
and ending the tool with its exit status."""

import os
import sys

NAME = os.path.splitext(os.path.basename(sys.argv[0]))[0]


class Failure(Exception):
    """Ends the tool: each of `lines` on stderr, then exit `status` (1: a
    problem found, 2: a usage error)."""

    def __init__(self, *lines, status=1):
        super().__init__(*lines)
        self.lines = lines
        self.status = status


def say(line, file=None):
    """Prints `line` as the tool's (on stdout unless `file` says)."""
    print(f"{NAME}: {line}", file=file or sys.stdout)


def run(main):
    """Runs `main(argv)` and exits: 0 when it returns, a Failure's status
    when it raises one."""
    try:
        main(sys.argv[1:])
    except Failure as failure:
        for line in failure.lines:
            say(line, file=sys.stderr)
        sys.exit(failure.status)
    sys.exit(0)
