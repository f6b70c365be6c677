"""Build a function into the local image store, following faas-cli's layout.

``./build/<fn>/`` is assembled as faas-cli does (contract §4.4): the whole
``./template/<lang>/`` plus the handler in ``function/``, or, for the
``dockerfile`` language, the handler folder itself as the build context.
Then, instead of ``docker build``:

* templates with a ``pyfaas: {python: true}`` section get their files at
  ``/home/app`` and their own virtualenv with the requirements installed;
* everything else is built from the context's ``Dockerfile``: ``ENV``,
  ``WORKDIR`` and ``COPY``/``ADD`` are carried out (without what the
  context's ``.dockerignore`` excludes), and what a process runtime cannot
  do is listed in the manifest's notes.

The image is staged and committed atomically, so rebuilding a reference
replaces the old image in one step.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

from pyfaas.builder import venv as pyvenv
from pyfaas.builder._files import SKIPPED_HANDLER_ENTRIES, apply_plan, fresh_dir, merge_tree
from pyfaas.builder.dockerfile import plan as plan_dockerfile
from pyfaas.builder.dockerignore import DockerIgnore
from pyfaas.builder.options import BuildOptions
from pyfaas.builder.options import resolve as resolve_options
from pyfaas.builder.templates import (
    TemplateSpec,
    check_runnable,
    load_template,
    normalise_lang,
    project_template,
)
from pyfaas.errors import BadRequest, NotFound
from pyfaas.images import MODES, ImageManifest, ImageStore, normalise
from pyfaas.naming import validate_name

Progress = Callable[[str], None]
APP_HOME = "/home/app"
# of-watchdog modes that fork per request, as the classic watchdog does.
_FORKING_MODES = ("streaming", "serializing")
# Template files that describe the build rather than belong in the image.
_BUILD_ONLY = ("template.yml", "Dockerfile")


def build_function(
    name: str,
    lang: str,
    handler: Path,
    image: str,
    project_dir: Path,
    store: ImageStore,
    *,
    fprocess: str | None = None,
    build_args: dict[str, str] | None = None,
    environment: dict[str, str] | None = None,
    build_options: Sequence[str] = (),
    strict_build_options: bool = False,
    progress: Progress = lambda _: None,
) -> ImageManifest:
    """Build ``handler`` with template ``lang`` as ``image``; returns the committed manifest.

    ``fprocess`` overrides the template's or Dockerfile's; ``environment`` is
    baked into the image's env (a deployment's env vars still win).
    ``build_options`` name the template's options (see ``pyfaas.builder.options``):
    what cannot be installed is one note, or, when ``strict_build_options``, an error.
    """
    validate_name(name)
    lang = normalise_lang(lang)
    handler = handler if handler.is_absolute() else project_dir / handler
    if not handler.is_dir():
        raise NotFound(f"handler folder {handler} not found")
    progress(f"Building: {name} with {lang} template. Please wait..")
    spec = load_template(project_template(lang, project_dir))
    check_runnable(spec)
    options = resolve_options(spec, build_options, build_args or {})
    unmet = options.unmet()
    if unmet and strict_build_options:
        raise BadRequest(f"cannot build {name} as asked: {unmet}")
    args = options.build_args(build_args or {})
    context = assemble_context(name, spec, handler, project_dir)
    staging = store.stage(image)
    try:
        if unmet:
            progress(f"Note: {unmet}")
        if spec.python and not spec.is_dockerfile:
            manifest = _build_python(spec, context, staging, image, store, options, progress)
        else:
            manifest = _build_dockerfile(spec, context, staging, image, args, progress)
        if unmet:
            manifest.notes.insert(0, unmet)
        if fprocess:
            manifest.fprocess = fprocess
        manifest.env.update(environment or {})
        store.commit(staging, manifest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    progress(f"Image: {normalise(image)} built.")
    return manifest


def assemble_context(name: str, spec: TemplateSpec, handler: Path, project_dir: Path) -> Path:
    """Recreate ``project_dir/build/<name>`` from the template and the handler."""
    context = fresh_dir(project_dir / "build" / name)
    if spec.is_dockerfile:
        merge_tree(handler, context, skip=SKIPPED_HANDLER_ENTRIES)
    else:
        merge_tree(spec.path, context)
        merge_tree(handler, context / spec.handler_folder, skip=SKIPPED_HANDLER_ENTRIES)
    return context


def _build_python(
    spec: TemplateSpec,
    context: Path,
    staging: Path,
    image: str,
    store: ImageStore,
    options: BuildOptions,
    progress: Progress,
) -> ImageManifest:
    home = staging / "root" / APP_HOME.lstrip("/")
    # The template's Dockerfile would COPY from a context filtered by its .dockerignore.
    merge_tree(context, home, skip=_BUILD_ONLY, ignore=DockerIgnore.read(context))
    # The template's Dockerfile touches it so that relative imports work.
    (home / spec.handler_folder / "__init__.py").touch()
    venv = staging / "venv"
    pyvenv.create(venv, progress)
    for requirements in (
        home / "requirements.txt",
        home / spec.handler_folder / "requirements.txt",
    ):
        pyvenv.install(venv, requirements, progress)
    pyvenv.install_packages(venv, options.installable_pip, progress)
    pyvenv.link_platform(venv)
    final_venv = store.venv_dir(image)
    pyvenv.relocate(venv, final_venv)
    pyvenv.compile_tree(pyvenv.site_packages(venv), pyvenv.site_packages(final_venv))
    pyvenv.compile_tree(home, store.root_dir(image) / APP_HOME.lstrip("/"))
    mode = spec.mode or "classic"
    _check_mode(mode)
    return ImageManifest(
        image=image,
        lang=spec.language,
        mode=mode,
        fprocess=spec.fprocess,
        workdir=APP_HOME,
        python=str(pyvenv.venv_python(final_venv)),
        handler=spec.handler if mode == "inproc" else None,
    )


def _build_dockerfile(
    spec: TemplateSpec,
    context: Path,
    staging: Path,
    image: str,
    build_args: dict[str, str] | None,
    progress: Progress,
) -> ImageManifest:
    dockerfile = context / "Dockerfile"
    if not dockerfile.is_file():
        raise BadRequest(f"{context.name}: no Dockerfile in the build context")
    plan = plan_dockerfile(dockerfile.read_text(), build_args)
    for line in plan.info:
        progress(line)
    apply_plan(plan, context, staging / "root", progress, DockerIgnore.read(context))
    env = dict(plan.env)
    fprocess = env.pop("fprocess", None) or env.pop("function_process", None)
    mode, mode_notes = _dockerfile_mode(env.pop("mode", None))
    notes = plan.notes + mode_notes
    if mode != "inproc" and not fprocess:
        notes.append("no fprocess set: the deployment must give one (fprocess / envProcess)")
    for note in notes:
        progress(f"Note: {note}")
    return ImageManifest(
        image=image,
        lang=spec.language,
        mode=mode,
        fprocess=fprocess,
        env=env,
        workdir=plan.workdir,
        handler=env.get("PYFAAS_HANDLER") if mode == "inproc" else None,
        notes=notes,
    )


def _dockerfile_mode(mode: str | None) -> tuple[str, list[str]]:
    if not mode:
        return "classic", []
    if mode in _FORKING_MODES:
        return "classic", [f"mode={mode}: run as classic, forking fprocess per request"]
    _check_mode(mode)
    return mode, []


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise BadRequest(f"watchdog mode {mode!r} is not supported; use one of {', '.join(MODES)}")


__all__ = ["APP_HOME", "assemble_context", "build_function"]
