"""Engine tests: podman and containerd driving capsa (a package, so its conftest does not clash with tests/integration/conftest.py in one pytest run)."""
