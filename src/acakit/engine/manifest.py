"""What made a run: versions, platform, command line, git commit, hashes of the user's data.

Every store keeps the manifest of each run into it (the store's meta key ``manifests``, a list:
a resumed sweep adds one), and ``acakit results STORE --manifest`` prints them, so two stores
made with different scikit-learn versions can be told apart. Nothing here runs code from the
files it describes: data files are read only to be hashed, the git commit is read from the
checkout's ``.git`` files (no ``git`` process).
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

#: Distributions whose versions every manifest lists (None where not installed).
LIBRARIES = ("numpy", "pandas", "scikit-learn", "scipy", "matplotlib", "pydantic", "torch",
             "transformers", "sentence-transformers", "opacus", "fairlearn", "aif360", "ray",
             "joblib")
#: The import name of a distribution where it differs (to say whether the run imported it).
IMPORT_NAMES = {"scikit-learn": "sklearn", "sentence-transformers": "sentence_transformers"}


def library_versions() -> dict[str, str | None]:
    """``{distribution: version or None}`` for :data:`LIBRARIES`, from ``importlib.metadata``."""
    out: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_commit(start: Path | None = None) -> str | None:
    """The commit of the git checkout acakit runs from (None when installed from a wheel):
    ``HEAD`` resolved through ``.git`` files, without running git."""
    here = (start or Path(__file__)).resolve()
    for folder in [here, *here.parents]:
        git = folder / ".git"
        if not git.is_dir():
            continue
        try:
            head = (git / "HEAD").read_text(encoding="utf-8").strip()
            if not head.startswith("ref: "):
                return head[:40] or None
            ref = head[5:]
            loose = git / ref
            if loose.is_file():
                return loose.read_text(encoding="utf-8").strip()[:40]
            packed = git / "packed-refs"
            if packed.is_file():
                for line in packed.read_text(encoding="utf-8").splitlines():
                    if line.endswith(" " + ref):
                        return line.split(" ", 1)[0][:40]
        except OSError:
            return None
        return None
    return None


def file_hash(path: str | Path, chunk: int = 1 << 20) -> str:
    """sha256 of a file's bytes (hex), read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def data_hashes(config: Any) -> dict[str, str]:
    """``{path: sha256}`` of every user data file a config names (a ``path`` parameter of its
    data set; a folder of texts: one hash over its files' names and bytes)."""
    raw = config.model_dump(mode="json") if hasattr(config, "model_dump") else dict(config)
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "path" and isinstance(v, str):
                    found.append(v)
                else:
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk({k: v for k, v in raw.items() if k in ("dataset", "data", "collectives", "sweep")})
    out = {}
    for p in dict.fromkeys(found):
        path = Path(p).expanduser()
        try:
            if path.is_file():
                out[p] = file_hash(path)
            elif path.is_dir():
                h = hashlib.sha256()
                for f in sorted(x for x in path.rglob("*") if x.is_file()):
                    h.update(str(f.relative_to(path)).encode())
                    h.update(file_hash(f).encode())
                out[p] = h.hexdigest()
        except OSError:
            out[p] = "unreadable"
    return out


def make_manifest(config: Any = None, argv: list[str] | None = None) -> dict[str, Any]:
    """The manifest of a run now: acakit's version and git commit, Python, the platform, the
    libraries' versions (and which this process imported), the command line, data hashes."""
    from acakit import __version__

    libs = library_versions()
    imported = sorted(n for n in libs if IMPORT_NAMES.get(n, n).replace("-", "_") in sys.modules)
    return {
        "acakit": __version__,
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "libraries": libs,
        "imported": imported,
        "command": " ".join(argv if argv is not None else sys.argv),
        "data_sha256": data_hashes(config) if config is not None else {},
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """What differs between two manifests that could change numbers (versions, Python,
    platform, data): one line each; time and command line are left out."""
    out = []
    for key in ("acakit", "git_commit", "python", "platform"):
        if a.get(key) != b.get(key):
            out.append(f"{key}: {a.get(key)} vs {b.get(key)}")
    la, lb = a.get("libraries", {}), b.get("libraries", {})
    for name in sorted(set(la) | set(lb)):
        if la.get(name) != lb.get(name):
            out.append(f"{name}: {la.get(name)} vs {lb.get(name)}")
    da, db = a.get("data_sha256", {}), b.get("data_sha256", {})
    for p in sorted(set(da) | set(db)):
        if da.get(p) != db.get(p):
            out.append(f"data {p}: sha256 differs")
    return out


def read_manifests(store: Any) -> list[dict[str, Any]]:
    """The manifests kept in an open store (oldest first; empty for a store made before them)."""
    raw = store.get_meta("manifests")
    if not raw:
        return []
    try:
        value = json.loads(raw)
    except ValueError:
        return []
    return [m for m in value if isinstance(m, dict)] if isinstance(value, list) else []


def add_manifest(store: Any, manifest: dict[str, Any], keep: int = 100) -> None:
    """Append a run's manifest to an open store's list (the last ``keep`` are kept)."""
    runs = [*read_manifests(store), manifest][-keep:]
    store.set_meta("manifests", json.dumps(runs, sort_keys=True))
