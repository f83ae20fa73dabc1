"""tests/support/kustomize.py's reader, which renders pmscan's kustomizations where kubectl is
missing, against kustomize itself (``kubectl kustomize``) where it is installed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.deploy.test_kubernetes import BASE, KUBERNETES, Manifest, kustomize
from tests.image._agent import write_overlay
from tests.support.kustomize import read


def identity(manifest: Manifest) -> tuple[str, str]:
    return manifest["kind"], manifest["metadata"]["name"]


def both(directory: Path) -> tuple[list[Manifest], list[Manifest]]:
    return sorted(read(directory), key=identity), sorted(kustomize(directory), key=identity)


class TestAgainstKustomize:
    def test_the_base(self) -> None:
        mine, theirs = both(BASE)
        assert mine == theirs

    def test_the_image_tests_overlay(self, tmp_path: Path) -> None:
        """The base, the Prometheus component (a patch and resources), an image and a patch of
        the overlay's own, and plain Secrets: what tests/image renders."""
        secrets = {
            "pmscan-tokens": {"tokens": "admin read sha256:" + "0" * 64 + "\n"},
            "pmscan-tls": {"tls.crt": "certificate\n", "tls.key": "key\n"},
        }
        overlay = write_overlay(tmp_path, "localhost/pmscan:dev", secrets, {"PMSCAN_LOG_LEVEL": "debug"})
        mine, theirs = both(overlay)
        assert mine == theirs
        daemonset = next(m for m in mine if m["kind"] == "DaemonSet")
        (container,) = daemonset["spec"]["template"]["spec"]["containers"]
        assert container["image"] == "localhost/pmscan:dev"


class TestRefusals:
    def test_a_field_it_does_not_know(self, tmp_path: Path) -> None:
        """The example overlay generates its Secrets (secretGenerator), which the reader does not do."""
        copy = tmp_path / "kubernetes"
        shutil.copytree(KUBERNETES, copy)
        with pytest.raises(ValueError, match="secretGenerator"):
            read(copy / "overlays" / "example")
