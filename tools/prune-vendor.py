#!/usr/bin/python3
"""Removes prebuilt binaries from a `cargo vendor` directory.

  tools/prune-vendor.py VENDOR_DIR

Some crates ship object files and libraries with no source: the Windows
import libraries of windows_*_gnu and windows_*_msvc, ring's objects for
Windows, wit-bindgen's objects and modules for WebAssembly. None is used on Linux, and a Debian
source package must not carry binaries without their source, so they go
(as in Debian's own rustc and cargo packages), and each crate's
.cargo-checksum.json stops listing them; cargo checks the files listed
there, so a file a Linux build needed would fail the build loudly.
"""

import json
import os

from toolmain import Failure, run, say

BINARY_SUFFIXES = (".a", ".lib", ".obj", ".o", ".dll", ".exe", ".so", ".dylib", ".pdb", ".wasm")


def prune(vendor):
    removed = 0
    for crate in sorted(os.listdir(vendor)):
        top = os.path.join(vendor, crate)
        checksums_path = os.path.join(top, ".cargo-checksum.json")
        if not os.path.isfile(checksums_path):
            continue
        with open(checksums_path, encoding="utf-8") as f:
            checksums = json.load(f)
        gone = []
        for directory, _, files in os.walk(top):
            for name in files:
                if name.endswith(BINARY_SUFFIXES):
                    path = os.path.join(directory, name)
                    os.remove(path)
                    gone.append(os.path.relpath(path, top))
        if not gone:
            continue
        for relative in gone:
            checksums["files"].pop(relative, None)
        with open(checksums_path, "w", encoding="utf-8") as f:
            json.dump(checksums, f, sort_keys=True, separators=(",", ":"))
        removed += len(gone)
        say(f"{crate}: removed {len(gone)} prebuilt files")
    return removed


def main(argv):
    if len(argv) != 1 or not os.path.isdir(argv[0]):
        raise Failure("usage: tools/prune-vendor.py VENDOR_DIR", status=2)
    say(f"{prune(argv[0])} prebuilt files removed")


if __name__ == "__main__":
    run(main)
