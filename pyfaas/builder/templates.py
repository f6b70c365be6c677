"""Function templates: the built-in ones, copying them into a project, new handlers.

A template is a folder ``<lang>/`` holding ``template.yml``, runtime entry
files and a handler skeleton (``function/`` unless ``handler_folder`` says
otherwise), laid out as faas-cli expects. ``pyfaas new`` copies the template
into ``./template/<lang>/`` and the skeleton into ``./<name>/``; the builder
reads ``./template/<lang>/`` back. A ``pyfaas:`` section in ``template.yml``
(ignored by faas-cli) says how pyfaas runs the template without a container
engine: watchdog ``mode``, ``handler`` for in-process functions, and whether
the function gets its own Python virtualenv. ``check_runnable`` refuses a
template that only a container engine could build.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from pyfaas.builder._files import merge_tree
from pyfaas.errors import BadRequest, Conflict, NotFound
from pyfaas.naming import validate_name

_DESCRIPTIONS = {
    "dockerfile": "Classic Dockerfile template: any command as fprocess behind the watchdog",
    "python3": "Classic Python 3 template: a process per request runs handle(req) on stdin",
    "python3-http": "Python 3 HTTP template: handle(event, context), run in-process",
}


@dataclass(frozen=True)
class TemplateSpec:
    """What ``template.yml`` says, with pyfaas's own section unpacked."""

    language: str
    path: Path
    fprocess: str | None = None
    handler_folder: str = "function"
    welcome_message: str = ""
    build_options: dict[str, list[str]] = field(default_factory=dict)
    mode: str | None = None
    handler: str | None = None
    python: bool = False
    # pyfaas.build_options.<name>.pip: Python packages an option stands for.
    pip_options: dict[str, list[str]] = field(default_factory=dict)
    # Whether template.yml has a pyfaas: section, i.e. says how to run without an engine.
    for_pyfaas: bool = False

    @property
    def is_dockerfile(self) -> bool:
        return self.language.lower() == "dockerfile"


def builtin_root() -> Path:
    """The folder of the templates shipped with pyfaas."""
    return Path(str(resources.files("pyfaas") / "templates"))


def available_templates() -> list[str]:
    """Names of the built-in templates."""
    return _template_dirs(builtin_root())


def project_templates(project_dir: Path) -> list[str]:
    """Names of the templates in ``project_dir/template`` (copied or pulled there)."""
    return _template_dirs(project_dir / "template")


def _template_dirs(root: Path) -> list[str]:
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "template.yml").is_file())


def template_store() -> list[dict[str, Any]]:
    """The built-in templates as entries of OpenFaaS's ``templates.json``."""
    return [
        {
            "template": name,
            "platform": "x86_64",
            "language": _language_title(name),
            "source": "pyfaas",
            "description": _DESCRIPTIONS.get(name, f"{name} template"),
            "repo": "builtin",
            "official": "true",
            "recommended": name != "python3",
        }
        for name in available_templates()
    ]


def _language_title(name: str) -> str:
    return "Dockerfile" if name == "dockerfile" else "Python"


def normalise_lang(lang: str) -> str:
    """faas-cli accepts ``Dockerfile`` for ``dockerfile`` and ``lang@ref`` pins."""
    lang = lang.split("@", 1)[0].strip()
    return "dockerfile" if lang.lower() == "dockerfile" else lang


def copy_template(lang: str, project_dir: Path, overwrite: bool = False) -> Path:
    """Copy a built-in template into ``project_dir/template/<lang>``; returns that folder."""
    lang = normalise_lang(lang)
    source = builtin_root() / lang
    if not (source / "template.yml").is_file():
        raise NotFound(
            f"template {lang!r} not found in ./template nor among pyfaas's "
            f"({', '.join(available_templates())}): pull it first with "
            f"`pyfaas template pull REPOSITORY` or `pyfaas template store pull {lang}`"
        )
    target = project_dir / "template" / lang
    if target.exists():
        if not overwrite:
            return target
        shutil.rmtree(target)
    merge_tree(source, target)
    return target


def project_template(lang: str, project_dir: Path) -> Path:
    """``./template/<lang>``, copied from the built-ins when missing (as faas-cli pulls)."""
    lang = normalise_lang(lang)
    local = project_dir / "template" / lang
    if (local / "template.yml").is_file():
        return local
    return copy_template(lang, project_dir)


def load_template(path: Path) -> TemplateSpec:
    """Read ``<path>/template.yml``."""
    try:
        data = yaml.safe_load((path / "template.yml").read_text()) or {}
    except FileNotFoundError as exc:
        raise NotFound(f"template {path.name!r} has no template.yml") from exc
    except yaml.YAMLError as exc:
        raise BadRequest(f"template {path.name}/template.yml is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise BadRequest(f"template {path.name}/template.yml is not a mapping")
    own = data.get("pyfaas") or {}
    if not isinstance(own, dict):
        raise BadRequest(f"template {path.name}/template.yml: pyfaas: is not a mapping")
    options = {
        str(o.get("name")): [str(p) for p in o.get("packages") or []]
        for o in data.get("build_options") or []
        if isinstance(o, dict)
    }
    return TemplateSpec(
        language=str(data.get("language") or path.name),
        path=path,
        fprocess=data.get("fprocess"),
        handler_folder=str(data.get("handler_folder") or "function"),
        welcome_message=str(data.get("welcome_message") or ""),
        build_options=options,
        mode=own.get("mode"),
        handler=own.get("handler"),
        python=bool(own.get("python", False)),
        pip_options=_pip_options(path, own.get("build_options")),
        for_pyfaas="pyfaas" in data,
    )


def _pip_options(path: Path, raw: Any) -> dict[str, list[str]]:
    """``pyfaas.build_options``: ``{name: {pip: [requirement, ...]}}``."""
    where = f"template {path.name}/template.yml: pyfaas.build_options"
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise BadRequest(f"{where}: expected a map of option names")
    found: dict[str, list[str]] = {}
    for name, entry in raw.items():
        pip = entry.get("pip") if isinstance(entry, dict) else None
        if not isinstance(pip, list) or not all(isinstance(p, str) for p in pip):
            raise BadRequest(f"{where}.{name}: expected 'pip:' with a list of requirements")
        found[str(name)] = list(pip)
    return found


def check_runnable(spec: TemplateSpec) -> None:
    """Refuse, in one line, a template that only a container engine could build.

    pyfaas runs the ``dockerfile`` template (the user's Dockerfile, interpreted)
    and templates whose ``template.yml`` has a ``pyfaas:`` section. Any other
    template (one pulled from OpenFaaS's repositories, say) is built from its
    Dockerfile only if that Dockerfile needs nothing an engine would do:
    ``RUN npm i`` or ``COPY --from=build`` would leave a function that cannot run.
    """
    if spec.is_dockerfile or spec.for_pyfaas:
        return
    from pyfaas.builder.dockerfile import plan

    dockerfile = spec.path / "Dockerfile"
    if not dockerfile.is_file():
        raise BadRequest(
            f"template {spec.language} has no Dockerfile and no pyfaas: section in "
            "template.yml: pyfaas does not know how to run it"
        )
    try:
        steps = plan(dockerfile.read_text()).engine_steps
    except BadRequest as exc:
        raise BadRequest(f"template {spec.language}: Dockerfile: {exc.message}") from exc
    if steps:
        more = f" and {len(steps) - 1} more step(s)" if len(steps) > 1 else ""
        raise BadRequest(
            f"template {spec.language} needs a container engine, which pyfaas does not "
            f"have: its Dockerfile needs {steps[0]}{more}; use a template whose "
            "template.yml has a pyfaas: section (docs/templates.md) or --lang dockerfile"
        )


def new_handler(name: str, lang: str, project_dir: Path, handler_dir: Path | None = None) -> Path:
    """Create ``./<name>/`` (or ``handler_dir``) from the template's handler skeleton."""
    validate_name(name)
    template = project_template(lang, project_dir)
    spec = load_template(template)
    check_runnable(spec)
    target = handler_dir if handler_dir is not None else project_dir / name
    if not target.is_absolute():
        target = project_dir / target
    if target.exists():
        raise Conflict(f"folder {target.name} already exists")
    skeleton = template / spec.handler_folder
    if not skeleton.is_dir():
        raise NotFound(f"template {spec.language!r} has no {spec.handler_folder}/ folder")
    merge_tree(skeleton, target)
    return target


__all__ = [
    "TemplateSpec",
    "available_templates",
    "builtin_root",
    "check_runnable",
    "copy_template",
    "load_template",
    "new_handler",
    "normalise_lang",
    "project_template",
    "project_templates",
    "template_store",
]
