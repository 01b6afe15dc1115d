"""The Dockerfile and its build context, read as Docker reads them: each image that runs is non-root and
checked for health, its bases are pinned by digest, the web image installs no PyTorch, and local state
and secrets never enter the build context."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DIGEST_PINNED = re.compile(r"^[a-z0-9./_-]+:[A-Za-z0-9._-]+@sha256:[0-9a-f]{64}$")
PYTORCH = {"torch", "torchvision", "open-clip-torch"}


@dataclass
class Stage:
    base: str
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def arguments(self, keyword: str) -> list[str]:
        return [arguments for instruction, arguments in self.instructions if instruction == keyword]

    def copied_from(self) -> list[str]:
        return [m.group(1) for arguments in self.arguments("COPY") if (m := re.search(r"--from=(\S+)", arguments))]


def parse_dockerfile(text: str) -> list[Stage]:
    """The stages of a Dockerfile: comment lines dropped, continued lines joined, instructions upper-cased."""
    logical, pending = [], ""
    for line in text.splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    stages: list[Stage] = []
    for line in logical:
        instruction, _, arguments = line.strip().partition(" ")
        instruction, arguments = instruction.upper(), arguments.strip()
        if instruction == "FROM":
            words = arguments.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else str(len(stages))
            stages.append(Stage(base=words[0], name=name))
        else:
            stages[-1].instructions.append((instruction, arguments))
    return stages


STAGES = parse_dockerfile((ROOT / "Dockerfile").read_text())
BY_NAME = {stage.name: stage for stage in STAGES}


def _final_stages() -> list[Stage]:
    """The stages no other stage builds on or copies from: the images that run."""
    used = {stage.base for stage in STAGES} | {source for stage in STAGES for source in stage.copied_from()}
    return [stage for stage in STAGES if stage.name not in used]


def _lineage(stage: Stage) -> list[Stage]:
    """The stage and those it is built FROM, nearest first."""
    chain = [stage]
    while chain[-1].base in BY_NAME:
        chain.append(BY_NAME[chain[-1].base])
    return chain


def _effective(stage: Stage, keyword: str) -> str | None:
    """The last ``keyword`` instruction that holds in ``stage``, its own or inherited from its bases."""
    for ancestor in _lineage(stage):
        if values := ancestor.arguments(keyword):
            return values[-1]
    return None


def _contributing(stage: Stage) -> list[Stage]:
    """Every stage whose files can end up in ``stage``: its bases and what they copy from, transitively."""
    seen: dict[str, Stage] = {}
    todo = [stage]
    while todo:
        current = todo.pop()
        if current.name in seen:
            continue
        seen[current.name] = current
        todo += [BY_NAME[name] for name in [current.base, *current.copied_from()] if name in BY_NAME]
    return list(seen.values())


def _requirement_names(path: Path) -> set[str]:
    """Normalised project names in a requirements file, following ``-r`` includes."""
    names: set[str] = set()
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line.startswith("-r"):
            names |= _requirement_names(path.parent / line[2:].strip())
        elif line:
            names.add(re.split(r"[\s\[=<>!~;]", line, maxsplit=1)[0].lower().replace("_", "-"))
    return names


def _installed_by(stage: Stage) -> set[str]:
    """What the pip installs of ``stage`` and every stage feeding it install: requirements files and names.
    A command substitution (``$(...)``) is left out: the names it yields are those of a requirements file."""
    names: set[str] = set()
    for contributor in _contributing(stage):
        for run in contributor.arguments("RUN"):
            run = re.sub(r"\$\((?:[^()]|\([^()]*\))*\)", "", run)
            for command in re.split(r"&&|;|\|\|", run):
                words = shlex.split(command)
                if "pip" not in words or "install" not in words:
                    continue
                arguments = words[words.index("install") + 1 :]
                for index, word in enumerate(arguments):
                    previous = arguments[index - 1] if index else ""
                    if previous == "-r":
                        names |= _requirement_names(ROOT / word)
                    elif re.match(r"^[A-Za-z][\w.-]*(\[.*\])?(==\S+)?$", word) and not previous.startswith("--"):
                        names.add(re.split(r"[\[=]", word)[0].lower().replace("_", "-"))
    return names


def test_the_targets_are_the_web_and_worker_images() -> None:
    assert {stage.name for stage in _final_stages()} == {"web", "worker"}


def test_every_image_that_runs_is_a_fixed_non_root_user() -> None:
    users = {}
    for stage in _final_stages():
        user = _effective(stage, "USER")
        assert user is not None, f"{stage.name} runs as root (no USER)"
        users[stage.name] = user
        assert user.split(":")[0] not in ("root", "0"), f"{stage.name} runs as {user}"
    # The user is created with a fixed uid, which volumes and host secrets can be given to.
    created = " ".join(BY_NAME["base"].arguments("RUN"))
    for user in set(users.values()):
        assert re.search(rf"useradd\b.*--uid [1-9][0-9]+\b.*\b{re.escape(user)}\b", created), user


def test_every_image_that_runs_has_a_health_check() -> None:
    for stage in _final_stages():
        check = _effective(stage, "HEALTHCHECK")
        assert check is not None and not check.upper().startswith("NONE"), stage.name
    web, worker = str(_effective(BY_NAME["web"], "HEALTHCHECK")), str(_effective(BY_NAME["worker"], "HEALTHCHECK"))
    assert web.endswith('["python", "-m", "museum_site.container_health", "web"]'), web
    assert worker.endswith('["python", "-m", "museum_site.container_health", "celery"]'), worker


def test_every_base_image_is_pinned_by_digest() -> None:
    external = [stage.base for stage in STAGES if stage.base not in BY_NAME]
    assert external, "no base image found"
    for image in external:
        assert DIGEST_PINNED.match(image), f"{image} is not pinned by digest (name:tag@sha256:...)"


def test_the_web_image_installs_no_pytorch_and_the_worker_image_does() -> None:
    web, worker = _installed_by(BY_NAME["web"]), _installed_by(BY_NAME["worker"])
    assert "onnxruntime" in web and "django" in web and "gunicorn" in web
    assert web & PYTORCH == set(), sorted(web & PYTORCH)
    assert worker >= PYTORCH


# --- .dockerignore, matched as Docker matches it (github.com/moby/patternmatcher) --------------------


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    out, index = "", 0
    while index < len(pattern):
        char = pattern[index]
        if pattern.startswith("**", index):
            index += 2
            if pattern.startswith("/", index):
                index += 1
                out += "(?:.*/)?"
            else:
                out += ".*"
            continue
        out += {"*": "[^/]*", "?": "[^/]"}.get(char, re.escape(char))
        index += 1
    return re.compile(f"^{out}$")


def ignore_rules(text: str) -> list[tuple[bool, re.Pattern[str]]]:
    rules = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = line[1:].strip() if negated else line
        pattern = str(Path("/" + pattern)).lstrip("/")  # cleaned as filepath.Clean does, no leading slash
        rules.append((negated, _pattern_regex(pattern)))
    return rules


def excluded(path: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Whether ``path`` is left out of the context: the last rule matching it or a folder above it wins."""
    parts = path.split("/")
    candidates = ["/".join(parts[: count + 1]) for count in range(len(parts))]
    verdict = False
    for negated, regex in rules:
        if any(regex.match(candidate) for candidate in candidates):
            verdict = not negated
    return verdict


RULES = ignore_rules((ROOT / ".dockerignore").read_text())


def test_local_state_secrets_and_caches_stay_out_of_the_build_context() -> None:
    for path in [
        ".git/HEAD",
        ".venv/bin/python",
        ".venv/lib/python3.11/site-packages/torch/__init__.py",
        "var/pgdata/PG_VERSION",
        "var/secret_key",
        "var/bench/search.json",
        "secrets/django_secret_key",
        "secrets/postgres_password",
        ".env",
        "museum_site/__pycache__/settings.cpython-311.pyc",
        "search/metrics.pyc",
        ".mypy_cache/3.11/cache.db",
        "node_modules/x/index.js",
        "search/static/node_modules/x/index.js",
    ]:
        assert excluded(path, RULES), f"{path} would be sent to the Docker daemon"


def test_what_the_images_need_is_in_the_build_context() -> None:
    copied = ["requirements-web.txt", "requirements.txt"]
    for path in [*copied, "manage.py", "museum_site/settings.py", "museum_site/gunicorn_config.py", "search/views.py"]:
        assert not excluded(path, RULES), f"{path} is left out of the build context"


def test_the_ignore_matcher_follows_docker_rules() -> None:
    rules = ignore_rules("*.log\n!keep.log\ndocs/**/draft\n/build\n")
    assert excluded("a.log", rules) and not excluded("keep.log", rules) and not excluded("sub/a.log", rules)
    assert excluded("docs/draft/x", rules) and excluded("docs/a/b/draft", rules) and excluded("build/x", rules)
