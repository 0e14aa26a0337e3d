"""The thin shell: the ``bppool`` command line that mounts each package's commands."""

__version__ = "0.1.0"
