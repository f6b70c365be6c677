"""Template pulls: a git repository's ``template/`` folder into a project's ``./template/``.

As faas-cli's ``template pull``: ``git clone --depth 1 [--branch REF] URL``
into a scratch directory, then every ``template/<name>/`` is copied to
``./template/<name>/``, except names already there (``overwrite`` replaces
them). ``URL#REF`` pins a branch or a tag. A local directory is read in place,
with no git at all, unless a ``#REF`` asks for one of its commits.

``template store pull NAME`` looks the name up in a template store: pyfaas's
own templates by default (no network), or, with a store URL (faas-cli's
``templates.json``, e.g. OpenFaaS's), the entry's repository, from which only
that template is copied.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyfaas.builder._files import merge_tree
from pyfaas.builder.templates import builtin_root, template_store
from pyfaas.errors import BadGateway, BadRequest, ConfigError, NotFound

DEFAULT_REPOSITORY = "https://github.com/openfaas/templates.git"
TEMPLATE_URL_ENV = "OPENFAAS_TEMPLATE_URL"
STORE_URL_ENV = "OPENFAAS_TEMPLATE_STORE_URL"
BUILTIN = "builtin"  # the ``repo`` of pyfaas's own store entries
_CLONE_TIMEOUT = 300.0


@dataclass(frozen=True)
class Source:
    """A repository and the branch or tag pinned with ``#REF`` (None: its default)."""

    url: str
    ref: str | None = None

    @classmethod
    def parse(cls, repository: str) -> Source:
        url, _, ref = repository.strip().partition("#")
        if not url:
            raise BadRequest(f"{repository!r} names no repository")
        return cls(url, ref.strip() or None)

    @property
    def local_dir(self) -> Path | None:
        """The directory this names, when it is one on this machine."""
        if "://" in self.url or self.url.startswith("git@"):
            return None
        path = Path(self.url).expanduser()
        return path if path.is_dir() else None

    def __str__(self) -> str:
        return f"{self.url}#{self.ref}" if self.ref else self.url


@dataclass
class PullResult:
    source: Source
    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # already in ./template


def pull_templates(
    repository: str,
    project_dir: Path,
    *,
    overwrite: bool = False,
    only: str | None = None,
    git: str = "git",
) -> PullResult:
    """Copy ``repository``'s templates (or just ``only``) into ``project_dir/template``."""
    source = Source.parse(repository)
    local = source.local_dir
    if local is not None and source.ref is None:
        return _install(source, local / "template", project_dir, overwrite, only)
    with tempfile.TemporaryDirectory(prefix="pyfaas-templates-") as scratch:
        checkout = Path(scratch) / "repo"
        # A local path goes as a file:// URL: git ignores --depth for plain paths.
        url = local.resolve().as_uri() if local is not None else source.url
        _clone(git, url, source.ref, checkout)
        return _install(source, checkout / "template", project_dir, overwrite, only)


def _clone(git: str, url: str, ref: str | None, target: Path) -> None:
    binary = shutil.which(git)
    if binary is None:
        raise ConfigError(f"{git} not found: pulling templates needs git on the PATH")
    command = [binary, "clone", "--depth", "1", "--config", "core.autocrlf=false"]
    if ref:
        command.append(f"--branch={ref}")
    # Never wait for a password on a terminal nobody watches.
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    try:
        done = subprocess.run(
            [*command, "--", url, str(target)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=env,
            timeout=_CLONE_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise BadGateway(f"git clone of {url} took over {_CLONE_TIMEOUT:.0f}s") from exc
    if done.returncode != 0:
        lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
        reason = lines[-1] if lines else f"exit status {done.returncode}"
        at = f" at {ref}" if ref else ""
        raise BadRequest(f"git clone of {url}{at} failed: {reason}")


def _install(
    source: Source, templates: Path, project_dir: Path, overwrite: bool, only: str | None
) -> PullResult:
    if not templates.is_dir():
        raise NotFound(f"{source} has no template/ folder")
    result = PullResult(source)
    found = sorted(p for p in templates.iterdir() if p.is_dir() and not p.name.startswith("."))
    if only is not None:
        found = [p for p in found if p.name == only]
        if not found:
            raise NotFound(f"{source} has no template {only!r} in its template/ folder")
    for folder in found:
        _copy_one(folder, project_dir / "template" / folder.name, overwrite, result)
    return result


def _copy_one(folder: Path, target: Path, overwrite: bool, result: PullResult) -> None:
    if target.exists() and not overwrite:
        result.skipped.append(folder.name)
        return
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
    elif target.exists() or target.is_symlink():
        target.unlink()
    merge_tree(folder, target)
    result.written.append(folder.name)


# -- the template store ------------------------------------------------------


def store_entries(url: str | None = None) -> list[dict[str, Any]]:
    """The store's entries (faas-cli's ``templates.json``): pyfaas's own without a URL."""
    if url is None:
        return template_store()
    data = _read_store(url)
    if not isinstance(data, list) or not all(isinstance(e, dict) for e in data):
        raise BadRequest(f"template store {url} is not a JSON list of templates")
    return data


def _read_store(url: str) -> Any:
    if url.startswith(("http://", "https://")):
        import httpx

        try:
            response = httpx.get(url, timeout=30.0, follow_redirects=True)
        except httpx.HTTPError as exc:
            raise BadGateway(f"cannot read the template store {url}: {exc}") from exc
        if response.status_code != 200:
            raise BadGateway(f"template store {url} answered HTTP {response.status_code}")
        text = response.text
    else:
        path = Path(url.removeprefix("file://")).expanduser()
        try:
            text = path.read_text()
        except OSError as exc:
            raise NotFound(f"cannot read the template store {url}: {exc.strerror}") from exc
    try:
        return json.loads(text)
    except ValueError as exc:
        raise BadRequest(f"template store {url} is not valid JSON: {exc}") from exc


def find_entry(entries: list[dict[str, Any]], name: str, where: str) -> dict[str, Any]:
    """The entry named ``name`` or ``source/name``, as faas-cli matches them."""
    for entry in entries:
        template = str(entry.get("template", ""))
        if name in (template, f"{entry.get('source', '')}/{template}"):
            return entry
    known = ", ".join(sorted(str(e.get("template", "")) for e in entries))
    raise NotFound(f"{where} has no template {name!r}; it has: {known}")


def pull_from_store(
    name: str,
    project_dir: Path,
    *,
    url: str | None = None,
    overwrite: bool = False,
    git: str = "git",
) -> PullResult:
    """Pull one template from the store at ``url`` (pyfaas's own when None)."""
    where = f"the template store {url}" if url else "pyfaas's template store"
    entry = find_entry(store_entries(url), name, where)
    template = str(entry["template"])
    repo = str(entry.get("repo") or "")
    if repo == BUILTIN and url is None:
        return _install(Source("pyfaas"), builtin_root(), project_dir, overwrite, template)
    if not repo:
        raise BadRequest(f"{where}: template {template!r} gives no repo")
    return pull_templates(repo, project_dir, overwrite=overwrite, only=template, git=git)


__all__ = [
    "DEFAULT_REPOSITORY",
    "STORE_URL_ENV",
    "TEMPLATE_URL_ENV",
    "PullResult",
    "Source",
    "find_entry",
    "pull_from_store",
    "pull_templates",
    "store_entries",
]
