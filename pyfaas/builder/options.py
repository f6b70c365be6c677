"""Build options: the named package sets a template declares, honoured as far as a
process runtime can.

faas-cli adds the packages of every option that the stack file
(``functions.<fn>.build_options``) or ``--build-option`` names to the
``ADDITIONAL_PACKAGE`` build argument, which the template's Dockerfile hands
to ``apk add`` or ``apt-get install``. pyfaas has no container engine and runs
functions on the host, so it cannot install OS packages: it passes the same
``ADDITIONAL_PACKAGE`` on and says, in one line, which packages the host must
provide; a strict build stops there instead. What an option means in Python
packages, a template may say in its ``pyfaas:`` section, and those are
installed into the function's virtualenv::

    build_options:                 # faas-cli's: OS packages
      - name: dev
        packages: [gcc, musl-dev]
    pyfaas:
      python: true
      build_options:               # pyfaas's: what pip can install
        dev:
          pip: [cython]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pyfaas.builder.templates import TemplateSpec
from pyfaas.errors import BadRequest

ADDITIONAL_PACKAGE = "ADDITIONAL_PACKAGE"


@dataclass(frozen=True)
class BuildOptions:
    """What the requested options and ``ADDITIONAL_PACKAGE`` ask of one build."""

    names: tuple[str, ...] = ()
    os_packages: tuple[str, ...] = ()  # sorted and de-duplicated, as faas-cli sends them
    pip_packages: tuple[str, ...] = ()
    language: str = ""
    has_virtualenv: bool = False

    def build_args(self, given: Mapping[str, str]) -> dict[str, str]:
        """``given`` with ``ADDITIONAL_PACKAGE`` set to the union, as faas-cli builds it."""
        args = dict(given)
        if self.os_packages:
            args[ADDITIONAL_PACKAGE] = " ".join(self.os_packages)
        return args

    @property
    def installable_pip(self) -> tuple[str, ...]:
        return self.pip_packages if self.has_virtualenv else ()

    def unmet(self) -> str | None:
        """One line naming what this build cannot install, or None if nothing."""
        parts = []
        if self.os_packages:
            parts.append(
                f"OS packages {' '.join(self.os_packages)} ({self._origin()}) not installed: "
                "there is no container engine, so the host must provide them"
            )
        if self.pip_packages and not self.has_virtualenv:
            parts.append(
                f"pip packages {' '.join(self.pip_packages)} not installed: "
                f"template {self.language} has no virtualenv (pyfaas: python: true)"
            )
        return "; ".join(parts) or None

    def _origin(self) -> str:
        if not self.names:
            return ADDITIONAL_PACKAGE
        label = "build option" if len(self.names) == 1 else "build options"
        return f"{label} {', '.join(self.names)}"


def resolve(
    spec: TemplateSpec, requested: Iterable[str], build_args: Mapping[str, str]
) -> BuildOptions:
    """The packages of ``requested`` options of ``spec``; an unknown name is an error
    naming the valid ones (faas-cli refuses it too)."""
    names = tuple(dict.fromkeys(n.strip() for n in requested if n.strip()))
    valid = sorted({*spec.build_options, *spec.pip_options})
    unknown = [n for n in names if n not in valid]
    if unknown:
        offered = f"valid: {', '.join(valid)}" if valid else "it defines none"
        raise BadRequest(
            f"build option {unknown[0]!r} is not defined by template {spec.language} ({offered})"
        )
    os_packages = {p for n in names for p in spec.build_options.get(n, [])}
    os_packages.update(build_args.get(ADDITIONAL_PACKAGE, "").split())
    pip_packages = dict.fromkeys(p for n in names for p in spec.pip_options.get(n, []))
    return BuildOptions(
        names=names,
        os_packages=tuple(sorted(os_packages)),
        pip_packages=tuple(pip_packages),
        language=spec.language,
        has_virtualenv=spec.python and not spec.is_dockerfile,
    )


__all__ = ["ADDITIONAL_PACKAGE", "BuildOptions", "resolve"]
