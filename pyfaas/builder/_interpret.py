"""Interpret the last Dockerfile stage into a ``Plan`` a process runtime can carry out.

Each instruction either changes the plan (``ENV``, ``ARG``, ``WORKDIR``,
``COPY``/``ADD`` of build-context paths, ``RUN mkdir``), is fine as it is
(``EXPOSE``, ``HEALTHCHECK``, ``LABEL``, ``CMD ["fwatchdog"]``), is covered
by pyfaas itself (the watchdog binary), or cannot be honoured without a
container engine, in which case a one-line note says so and why.
"""

from __future__ import annotations

from collections.abc import Callable

from pyfaas.builder._model import (
    PREDEFINED_ARGS,
    CopyStep,
    Instruction,
    Plan,
    Stage,
    container_path,
    json_form,
    split_flags,
)
from pyfaas.builder._words import expand, words
from pyfaas.errors import BadRequest

WATCHDOG_BINARIES = frozenset({"fwatchdog", "of-watchdog", "watchdog"})
_FINE = frozenset({"EXPOSE", "HEALTHCHECK", "LABEL", "MAINTAINER", "STOPSIGNAL", "SHELL"})
_SHELL_SYNTAX = frozenset("&|;<>`$()")
_ACCOUNT_COMMANDS = frozenset({"addgroup", "adduser", "useradd", "groupadd", "chown"})


class Interpreter:
    def __init__(
        self, stage: Stage, build_args: dict[str, str], escape: str, stage_names: set[str]
    ) -> None:
        self.stage = stage
        self.build_args = build_args
        self.escape = escape
        self.stage_names = stage_names
        # Proxy args need no ARG line, as in Docker.
        self.args = {k: v for k, v in build_args.items() if k in PREDEFINED_ARGS}
        self.plan = Plan(base=stage.base)
        self.handlers: dict[str, Callable[[Instruction], None]] = {
            "ARG": self._arg,
            "ENV": self._env,
            "WORKDIR": self._workdir,
            "COPY": self._copy,
            "ADD": self._copy,
            "RUN": self._run,
            "USER": self._user,
            "VOLUME": self._volume,
            "CMD": self._cmd,
            "ENTRYPOINT": self._cmd,
            "ONBUILD": self._onbuild,
        }

    def run(self) -> Plan:
        self._base()
        for instruction in self.stage.instructions:
            if instruction.keyword in _FINE:
                continue
            handler = self.handlers.get(instruction.keyword)
            if handler is None:
                raise BadRequest(
                    f"line {instruction.line}: unknown instruction {instruction.keyword}"
                )
            handler(instruction)
        return self.plan

    @property
    def variables(self) -> dict[str, str]:
        return {**self.args, **self.plan.env}

    def _words(self, instruction: Instruction) -> list[str]:
        listed = json_form(instruction.args)
        if listed is not None:
            return [expand(item, self.variables, self.escape) for item in listed]
        return words(instruction.args, self.variables, self.escape)

    def _note(self, instruction: Instruction, why: str, *, engine: bool = False) -> None:
        self.plan.notes.append(f"{instruction.source}: {why}")
        if engine:
            self.plan.engine_steps.append(f"{instruction.source} (line {instruction.line})")

    def _base(self) -> None:
        base = self.stage.base
        if base.lower() == "scratch" or base in self.stage_names:
            return
        self.plan.notes.append(
            f"FROM {base}: the base image's own files are not used — commands run from the "
            "host, so the host needs what the function calls"
        )

    def _arg(self, instruction: Instruction) -> None:
        for word in words(instruction.args, self.variables, self.escape):
            key, has_default, default = word.partition("=")
            if key in self.build_args:
                self.args[key] = self.build_args[key]
            elif has_default:
                self.args[key] = default
            elif key in self.stage.global_args:
                self.args[key] = self.stage.global_args[key]

    def _env(self, instruction: Instruction) -> None:
        found = words(instruction.args, self.variables, self.escape)
        if not found:
            raise BadRequest(f"line {instruction.line}: ENV needs a name and a value")
        if "=" not in found[0]:
            # Legacy form: ENV key the value
            self.plan.env[found[0]] = " ".join(found[1:])
            return
        for word in found:
            key, has_value, value = word.partition("=")
            if not has_value or not key:
                raise BadRequest(f"line {instruction.line}: ENV {word!r} is not key=value")
            self.plan.env[key] = value

    def _workdir(self, instruction: Instruction) -> None:
        found = self._words(instruction)
        if len(found) != 1:
            raise BadRequest(f"line {instruction.line}: WORKDIR takes one path")
        self.plan.workdir = container_path(found[0], self.plan.workdir).rstrip("/") or "/"
        self.plan.mkdirs.append(self.plan.workdir)

    def _copy(self, instruction: Instruction) -> None:
        flags, paths = split_flags(self._words(instruction))
        if len(paths) < 2:
            raise BadRequest(f"line {instruction.line}: {instruction.keyword} needs a source")
        *sources, dest = paths
        if "from" in flags:
            self._copy_from(instruction, flags["from"], sources)
            return
        local = [s for s in sources if not s.startswith(("http://", "https://", "git@"))]
        if len(local) != len(sources):
            self._note(
                instruction,
                "not fetched — ADD of a URL needs the network at build time",
                engine=True,
            )
        if not local:
            return
        target = container_path(dest, self.plan.workdir)
        if len(sources) > 1 and not target.endswith("/"):
            target += "/"
        add = instruction.keyword == "ADD"
        self.plan.copies.append(CopyStep(tuple(local), target, add=add))

    def _copy_from(self, instruction: Instruction, origin: str, sources: list[str]) -> None:
        names = {s.rstrip("/").rsplit("/", 1)[-1] for s in sources}
        if names <= WATCHDOG_BINARIES:
            self.plan.info.append(f"{instruction.source}: pyfaas provides its own watchdog")
            return
        what = "another build stage" if origin in self.stage_names else f"the image {origin}"
        self._note(instruction, f"not copied — files from {what} are not available", engine=True)

    def _run(self, instruction: Instruction) -> None:
        command = instruction.args
        listed = json_form(command)
        argv = listed if listed is not None else command.split()
        if argv and argv[0] == "mkdir" and not (_SHELL_SYNTAX & set(command)):
            paths = [a for a in argv[1:] if not a.startswith("-")]
            self.plan.mkdirs.extend(container_path(p, self.plan.workdir) for p in paths)
            return
        if any(name in WATCHDOG_BINARIES for word in argv for name in word.split("/")):
            self.plan.info.append(f"{instruction.source}: pyfaas provides its own watchdog")
            return
        if argv and argv[0] in _ACCOUNT_COMMANDS:
            self._note(
                instruction, "not run — the function runs as the platform's user, in a sandbox"
            )
            return
        why = "not run — there is no container engine; install what the function needs on the host"
        self._note(instruction, why, engine=True)

    def _user(self, instruction: Instruction) -> None:
        found = self._words(instruction)
        self.plan.user = found[0] if found else None
        self._note(instruction, "noted — the function runs as the platform's user, in a sandbox")

    def _volume(self, instruction: Instruction) -> None:
        self._note(instruction, "not mounted — use /tmp for scratch files")

    def _cmd(self, instruction: Instruction) -> None:
        listed = json_form(instruction.args)
        argv = listed if listed is not None else instruction.args.split()
        self.plan.cmd = argv
        if argv and argv[0].rsplit("/", 1)[-1] in WATCHDOG_BINARIES:
            return
        self._note(
            instruction, "not run — pyfaas starts its own watchdog; put the command in fprocess"
        )

    def _onbuild(self, instruction: Instruction) -> None:
        self._note(instruction, "ignored — ONBUILD only affects images built from this one")


__all__ = ["WATCHDOG_BINARIES", "Interpreter"]
