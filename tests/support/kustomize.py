"""Kustomizations rendered into the objects a cluster would get.

:func:`render` is ``kubectl kustomize DIRECTORY`` (kustomize v5 built into kubectl) where kubectl is
installed. No package registry this project uses carries kustomize (Debian has none, PyPI and npm
have no build of it), and kubectl comes with the machine image of our CI, not from ``make tools``.
Where kubectl is missing, :func:`read` renders the subset of kustomization.yaml that pmscan's own
kustomizations use: ``resources`` (files and kustomization directories), ``components``,
``patches`` (strategic-merge patch files), ``images``, ``namespace``; it refuses every other field
rather than ignore it. tests/deploy/test_kustomize_reader.py checks that both give the same objects
for the kustomizations of deploy/kubernetes and tests/image.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

__all__ = ["Manifest", "read", "render"]

Manifest = dict[str, Any]

# The fields :func:`read` understands; anything else in a kustomization is refused.
_FIELDS = {
    "apiVersion",
    "kind",
    "resources",
    "components",
    "patches",
    "images",
    "namespace",
    "configurations",
}
# The merge keys of the lists a strategic-merge patch of a pod template meets (Kubernetes'
# `patchMergeKey`s); any other list is replaced, as Kubernetes replaces it.
_MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "ports": "containerPort",
    "tolerations": None,  # atomic in the API; replaced
}


def render(directory: Path) -> list[Manifest]:
    """The objects that ``directory``'s kustomization makes: kustomize's own rendering where
    kubectl is installed, else :func:`read`'s."""
    if shutil.which("kubectl") is None:
        return read(directory)
    result = subprocess.run(
        ["kubectl", "kustomize", str(directory)], capture_output=True, text=True, check=False, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc is not None]


def read(directory: Path) -> list[Manifest]:
    """The objects of ``directory``'s kustomization, rendered without kustomize (see the module's
    docstring for what is understood). ``configurations`` are read for name references, which
    matter only to generated names; no field here generates one."""
    return _build(directory, component=False)


def _build(directory: Path, *, component: bool, objects: list[Manifest] | None = None) -> list[Manifest]:
    """The objects of a kustomization; a component's work on the objects of the kustomization
    that names it (``objects``), as kustomize's components do."""
    kustomization: Manifest = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(kustomization) - _FIELDS
    if unknown:
        raise ValueError(f"{directory}: kustomization fields this reader does not know: {sorted(unknown)}")
    expected = "Component" if component else "Kustomization"
    if kustomization.get("kind", "Kustomization") != expected:
        raise ValueError(f"{directory}: a {kustomization.get('kind')} where a {expected} belongs")
    objects = [] if objects is None else objects
    for entry in kustomization.get("resources", []):
        path = directory / entry
        objects.extend(_build(path, component=False) if path.is_dir() else _documents(path))
    for entry in kustomization.get("components", []):
        _build(directory / entry, component=True, objects=objects)
    for entry in kustomization.get("patches", []):
        if set(entry) != {"path"}:
            raise ValueError(f"{directory}: only patches given by path are understood: {entry}")
        for patch in _documents(directory / entry["path"]):
            _apply(objects, patch)
    if "namespace" in kustomization:
        for manifest in objects:
            if manifest["kind"] != "Namespace":
                manifest["metadata"]["namespace"] = kustomization["namespace"]
    for image in kustomization.get("images", []):
        _set_image(objects, image)
    return objects


def _documents(path: Path) -> list[Manifest]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def _identity(manifest: Manifest) -> tuple[str, str, str]:
    metadata = manifest["metadata"]
    return manifest["kind"], metadata["name"], metadata.get("namespace", "")


def _apply(objects: list[Manifest], patch: Manifest) -> None:
    targets = [m for m in objects if _identity(m) == _identity(patch)]
    if len(targets) != 1:
        raise ValueError(f"the patch of {_identity(patch)} matches {len(targets)} objects")
    _merge(targets[0], patch)


def _merge(target: Manifest, patch: Manifest) -> None:
    """A strategic-merge patch of ``target``, in place: maps merge key by key, lists with a merge
    key merge item by item (new items go first, as kustomize puts them), other values (and
    lists) are replaced."""
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        elif isinstance(value, list) and _MERGE_KEYS.get(key) and isinstance(target.get(key), list):
            merge_key = _MERGE_KEYS[key]
            items = {item[merge_key]: item for item in target[key]}
            added = []
            for item in value:
                if item[merge_key] in items:
                    _merge(items[item[merge_key]], item)
                else:
                    added.append(copy.deepcopy(item))
            target[key][:0] = added  # kustomize puts the patch's new items first
        else:
            target[key] = copy.deepcopy(value)


def _set_image(objects: list[Manifest], rule: Manifest) -> None:
    """An ``images`` entry: every container image named ``rule["name"]`` (with or without a tag)
    gets the new name and tag."""
    for manifest in objects:
        spec = manifest.get("spec", {}).get("template", {}).get("spec", {})
        for container in [*spec.get("containers", []), *spec.get("initContainers", [])]:
            name, _, tag = container["image"].partition(":")
            if name != rule["name"]:
                continue
            container["image"] = f"{rule.get('newName', name)}:{rule.get('newTag', tag or 'latest')}"
