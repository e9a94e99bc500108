"""The offline installation bundle: built on a connected machine, verified and installed on a host with no
network (see README.md)."""
