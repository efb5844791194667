"""Where `cargo build --release` put depot's programs.

.cargo/config.toml builds for the host tuple explicitly (so the static link
flags stay off build scripts), which puts artifacts under
target/<host tuple>/release; target/release is the place without that config.
"""
import os
import subprocess

SOURCE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def release(name="depot"):
    """The path of the release build of `name` (a binary, or examples/NAME)."""
    try:
        host = subprocess.run(
            ["rustc", "--print", "host-tuple"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        host = ""
    for base in ([os.path.join(SOURCE, "target", host, "release")] if host else []) + [
        os.path.join(SOURCE, "target", "release")
    ]:
        path = os.path.join(base, name)
        if os.path.exists(path):
            return path
    return os.path.join(SOURCE, "target", host or "", "release", name)
