"""Container and CI files: schema-valid, and consistent with each other and with the repo.

No Docker engine runs where these tests run, so they stand between a typo and a broken
`docker compose up`, image build or GitHub workflow. The compose documents are checked
against the Compose Specification schema and the workflows against the GitHub workflow
schema (both as vendored by check-jsonschema), each validator is shown to reject a broken
copy, and the facts the files rely on (services, ports, volumes, files the Dockerfiles copy,
the health route, the prestart script) are checked against the repo itself.
"""

import copy
import json
import os
import posixpath
import re
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dockerfile
import psycopg
import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for
from psycopg import sql
from ruamel.yaml import YAML
from sqlalchemy.engine import make_url

from tests.conftest import ADMIN_URL

BACKEND = Path(__file__).resolve().parents[1]
REPO = BACKEND.parent
FRONTEND = REPO / "frontend"
WORKFLOWS = REPO / ".github" / "workflows"
COMPOSE = REPO / "docker-compose.yml"
OVERRIDE = REPO / "docker-compose.override.yml"
HEALTH_PATH = "/api/v1/utils/health-check/"
SERVICES = {"db", "prestart", "backend", "frontend", "adminer"}

# ---------------------------------------------------------------------------------------------
# Loading, interpolating and merging compose documents the way Docker Compose does


def load_yaml(path: Path) -> Any:
    # YAML 1.2, as Compose and GitHub read these files: `on:` stays a string and "22:22" is
    # not a base-60 number (PyYAML's YAML 1.1 gets both wrong).
    return YAML(typ="safe", pure=True).load(path.read_text())


def env_example() -> dict[str, str]:
    values: dict[str, str] = {}
    for line in (REPO / ".env.example").read_text().splitlines():
        match = re.match(r"([A-Za-z_][A-Za-z0-9_]*)=(.*)$", line)
        if match:
            values[match[1]] = match[2]
    return values


_VARIABLE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?])([^}]*))?\}")


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR?err}`, `$$` rules."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        if match[0] == "$$":
            return "$"
        name, colon, kind, arg = match[1], match[2], match[3], match[4]
        current = env.get(name)
        missing = current is None or (colon == ":" and current == "")
        if kind == "?" and missing:
            raise KeyError(f"required variable {name} is not set: {arg}")
        if kind == "-" and missing:
            return arg
        return current or ""

    return _VARIABLE.sub(substitute, value)


# Sequences that an override replaces instead of extending (Compose Specification, merge rules).
_REPLACED_SEQUENCES = {"command", "entrypoint", "test"}


def merge(base: Any, override: Any, key: str | None = None) -> Any:
    """Merge two compose documents: mappings recursively, most sequences by appending."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = copy.deepcopy(base)
        for name, value in override.items():
            merged[name] = merge(base[name], value, name) if name in base else copy.deepcopy(value)
        return merged
    if isinstance(base, list) and isinstance(override, list) and key not in _REPLACED_SEQUENCES:
        return copy.deepcopy(base) + [item for item in override if item not in base]
    return copy.deepcopy(override)


def compose_docs() -> dict[str, Any]:
    """The documents `docker compose config` would see with `cp .env.example .env`."""
    env = env_example()
    base = interpolate(load_yaml(COMPOSE), env)
    override = interpolate(load_yaml(OVERRIDE), env)
    return {"base": base, "override": override, "merged": merge(base, override)}


@pytest.fixture(scope="module")
def docs() -> dict[str, Any]:
    return compose_docs()


@pytest.fixture(scope="module")
def base(docs: dict[str, Any]) -> dict[str, Any]:
    return docs["base"]


@pytest.fixture(scope="module")
def merged(docs: dict[str, Any]) -> dict[str, Any]:
    return docs["merged"]


# ---------------------------------------------------------------------------------------------
# Schemas vendored by check-jsonschema


def vendored_validator(name: str) -> Validator:
    schema = json.loads(
        files("check_jsonschema.builtin_schemas.vendor").joinpath(name).read_text("utf-8")
    )
    cls = validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


@pytest.fixture(scope="module")
def compose_schema() -> Validator:
    return vendored_validator("compose-spec.json")


@pytest.fixture(scope="module")
def workflow_schema() -> Validator:
    return vendored_validator("github-workflows.json")


def schema_errors(validator: Validator, document: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}"
        for error in validator.iter_errors(document)
    ]


@pytest.mark.parametrize("which", ["base", "override", "merged"])
def test_compose_documents_follow_the_compose_spec(
    compose_schema: Validator, docs: dict[str, Any], which: str
) -> None:
    assert schema_errors(compose_schema, docs[which]) == []


def _typo_in_service_key(doc: dict[str, Any]) -> None:
    doc["services"]["backend"]["restrat"] = doc["services"]["backend"].pop("restart")


def _unknown_depends_on_condition(doc: dict[str, Any]) -> None:
    doc["services"]["backend"]["depends_on"]["db"]["condition"] = "service_happy"


def _healthcheck_test_not_a_command(doc: dict[str, Any]) -> None:
    doc["services"]["db"]["healthcheck"]["test"] = 5432


def _misspelt_top_level_key(doc: dict[str, Any]) -> None:
    doc["volume"] = doc.pop("volumes")


def _port_as_a_list(doc: dict[str, Any]) -> None:
    doc["services"]["frontend"]["ports"] = [["80", "80"]]


@pytest.mark.parametrize(
    "breakage",
    [
        _typo_in_service_key,
        _unknown_depends_on_condition,
        _healthcheck_test_not_a_command,
        _misspelt_top_level_key,
        _port_as_a_list,
    ],
)
def test_compose_schema_rejects_a_broken_copy(
    compose_schema: Validator,
    base: dict[str, Any],
    breakage: Callable[[dict[str, Any]], None],
) -> None:
    broken = copy.deepcopy(base)
    breakage(broken)
    assert schema_errors(compose_schema, broken)


def test_env_example_satisfies_every_required_variable() -> None:
    # `cp .env.example .env && docker compose up` must not stop at "Variable not set".
    env = env_example()
    for path in (COMPOSE, OVERRIDE):
        for match in _VARIABLE.finditer(path.read_text()):
            if match[0] != "$$" and match[3] != "-":
                assert env.get(match[1]), f"{path.name} needs {match[1]}; .env.example lacks it"


def test_interpolation_refuses_a_missing_required_variable() -> None:
    env = {key: value for key, value in env_example().items() if key != "SECRET_KEY"}
    with pytest.raises(KeyError, match="SECRET_KEY"):
        interpolate(load_yaml(COMPOSE), env)


def test_merge_extends_lists_and_replaces_commands() -> None:
    merged = merge(
        {"s": {"ports": ["1:1"], "command": ["a"], "environment": {"A": "1"}}},
        {"s": {"ports": ["2:2"], "command": ["b"], "environment": {"B": "2"}}},
    )
    assert merged == {
        "s": {"ports": ["1:1", "2:2"], "command": ["b"], "environment": {"A": "1", "B": "2"}}
    }


# ---------------------------------------------------------------------------------------------
# Structural facts about the stack


def dangling_dependencies(doc: dict[str, Any]) -> list[str]:
    services = doc["services"]
    return [
        f"{name} -> {dependency}"
        for name, service in services.items()
        for dependency in service.get("depends_on", [])
        if dependency not in services
    ]


@pytest.mark.parametrize("which", ["base", "merged"])
def test_depends_on_names_existing_services(docs: dict[str, Any], which: str) -> None:
    assert set(docs[which]["services"]) == SERVICES
    assert dangling_dependencies(docs[which]) == []


def test_dependency_check_catches_a_missing_service(base: dict[str, Any]) -> None:
    broken = copy.deepcopy(base)
    del broken["services"]["prestart"]
    assert dangling_dependencies(broken) == ["backend -> prestart"]


def test_backend_starts_only_after_prestart_migrated_a_healthy_db(base: dict[str, Any]) -> None:
    services = base["services"]
    assert "healthcheck" in services["db"]
    assert services["prestart"]["command"] == ["bash", "scripts/prestart.sh"]
    assert services["prestart"]["depends_on"]["db"]["condition"] == "service_healthy"
    backend_deps = services["backend"]["depends_on"]
    assert backend_deps["db"]["condition"] == "service_healthy"
    assert backend_deps["prestart"]["condition"] == "service_completed_successfully"
    # The two run the same image, so prestart migrates with exactly the backend's code.
    assert services["prestart"]["image"] == services["backend"]["image"]
    assert services["prestart"]["build"] == services["backend"]["build"]
    assert services["prestart"]["environment"] == services["backend"]["environment"]


@pytest.mark.filterwarnings("ignore:The value of:UserWarning")  # .env.example's "changethis"
def test_backend_settings_point_at_the_db_service(
    base: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.core.config import Settings

    # What the container sees: .env (env_file), then the service's environment on top, with a
    # DATABASE_URL in .env that must not win over the stack's own database.
    container_env = {
        **env_example(),
        "DATABASE_URL": "postgresql://someone@elsewhere:5432/omc",
        **base["services"]["backend"]["environment"],
    }
    for key, value in container_env.items():
        monkeypatch.setenv(key, value)
    url = make_url(Settings(_env_file=None).SQLALCHEMY_DATABASE_URI)
    db_env = base["services"]["db"]["environment"]
    assert (url.host, url.port) == ("db", 5432)
    assert (url.username, url.password, url.database) == (
        db_env["POSTGRES_USER"],
        db_env["POSTGRES_PASSWORD"],
        db_env["POSTGRES_DB"],
    )


def test_backend_healthcheck_probes_the_real_health_route(base: dict[str, Any]) -> None:
    from app.main import app

    probe = " ".join(base["services"]["backend"]["healthcheck"]["test"])
    found = re.search(r"http://[^'\" ]+", probe)
    assert found, probe
    url = urlsplit(found[0])
    assert url.path == HEALTH_PATH
    assert url.port == 8000 == backend_listen_port()
    assert "get" in app.openapi()["paths"][HEALTH_PATH]


def test_only_the_backend_gets_the_sandbox_privileges(merged: dict[str, Any]) -> None:
    backend = merged["services"]["backend"]
    assert backend["cap_add"] == ["SYS_ADMIN"]
    assert backend["security_opt"] == ["seccomp=unconfined"]
    for name, service in merged["services"].items():
        if name != "backend":
            assert not {"cap_add", "security_opt", "privileged"} & set(service), name


def published_host_ports(doc: dict[str, Any]) -> list[tuple[str, int]]:
    published = []
    for name, service in doc["services"].items():
        for port in service.get("ports", []):
            parts = str(port).split(":")
            assert len(parts) in (2, 3), f"{name}: publish {port} with an explicit host port"
            published.append((name, int(parts[-2])))
    return published


def host_port_collisions(doc: dict[str, Any]) -> list[int]:
    ports = [port for _, port in published_host_ports(doc)]
    return sorted({port for port in ports if ports.count(port) > 1})


def test_published_ports(docs: dict[str, Any]) -> None:
    assert published_host_ports(docs["base"]) == [("frontend", 80), ("adminer", 8080)]
    assert sorted(published_host_ports(docs["merged"])) == [
        ("adminer", 8080),
        ("backend", 8000),
        ("db", 5432),
        ("frontend", 80),
    ]
    assert host_port_collisions(docs["merged"]) == []


def test_port_check_catches_a_collision(merged: dict[str, Any]) -> None:
    broken = copy.deepcopy(merged)
    broken["services"]["adminer"]["ports"] = ["127.0.0.1:8000:8080"]
    assert host_port_collisions(broken) == [8000]


def named_volumes(doc: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    for name, service in doc["services"].items():
        for volume in service.get("volumes", []):
            source, target = str(volume).split(":")[:2]
            yield name, source, target


def test_volumes(merged: dict[str, Any]) -> None:
    declared = set(merged["volumes"])
    named = [(svc, src, tgt) for svc, src, tgt in named_volumes(merged) if src[0] not in "./~"]
    assert named == [("db", "app-db-data", "/var/lib/postgresql/data/pgdata")]
    assert {source for _, source, _ in named} <= declared
    # The database files live in the volume, not in the container's writable layer.
    assert merged["services"]["db"]["environment"]["PGDATA"] == named[0][2]


def test_dev_mounts_land_where_the_image_put_the_same_files(merged: dict[str, Any]) -> None:
    installed = copied_files(stages(BACKEND / "Dockerfile")[-1])
    mounts = [
        (svc, src, tgt) for svc, src, tgt in named_volumes(merged) if src.startswith("./backend/")
    ]
    assert {svc for svc, _, _ in mounts} == {"backend", "prestart"}
    for service, source, target in mounts:
        relative = source.removeprefix("./backend/")
        assert (BACKEND / relative).exists(), source
        assert installed[relative] == target, f"{service}: {source} mounted over {target}"


# ---------------------------------------------------------------------------------------------
# Dockerfiles

INSTRUCTIONS = {
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK",
    "LABEL", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
}  # fmt: skip


def stages(path: Path) -> list[list[dockerfile.Command]]:
    result: list[list[dockerfile.Command]] = []
    for command in dockerfile.parse_file(str(path)):
        assert command.cmd in INSTRUCTIONS, f"{path}:{command.start_line}: {command.original}"
        if command.cmd == "ARG" and not result:
            continue  # a global build argument, before the first stage
        if command.cmd == "FROM":
            result.append([])
        assert result, f"{path}: an instruction before the first FROM"
        result[-1].append(command)
    return result


def copied_files(stage: list[dockerfile.Command]) -> dict[str, str]:
    """Build-context path -> absolute path in the image, for the stage's COPY/ADD."""
    workdir, installed = "/", {}
    for command in stage:
        if command.cmd == "WORKDIR":
            workdir = posixpath.join(workdir, command.value[0])
        if command.cmd in {"COPY", "ADD"} and not any(
            flag.startswith("--from") for flag in command.flags
        ):
            *sources, destination = command.value
            target = posixpath.normpath(posixpath.join(workdir, destination))
            for source in sources:
                into_directory = len(sources) > 1 or destination.endswith("/")
                name = posixpath.basename(source.rstrip("/"))
                installed[source] = posixpath.join(target, name) if into_directory else target
    return installed


def ignored_names(context: Path) -> set[str]:
    lines = (context / ".dockerignore").read_text().splitlines()
    return {line.strip() for line in lines if line.strip() and not line.startswith("#")}


def uncopyable_sources(context: Path) -> list[str]:
    """COPY/ADD sources that are missing from the build context or excluded from it."""
    ignored = ignored_names(context)
    return [
        source
        for stage in stages(context / "Dockerfile")
        for source in copied_files(stage)
        if not (context / source).exists() or source.split("/")[0] in ignored
    ]


@pytest.mark.parametrize("context", [BACKEND, FRONTEND], ids=["backend", "frontend"])
def test_dockerfile_copies_files_that_exist_in_its_context(context: Path) -> None:
    assert uncopyable_sources(context) == []


def test_dockerfile_checks_catch_mistakes(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "uv.lock").write_text("")
    (tmp_path / ".dockerignore").write_text("# caches\nuv.lock\n")
    (tmp_path / "Dockerfile").write_text(
        "FROM python:3.11-slim\nWORKDIR /srv\nCOPY app ./app\nCOPY uv.lock alembic.ini ./\n"
    )
    assert copied_files(stages(tmp_path / "Dockerfile")[0]) == {
        "app": "/srv/app",
        "uv.lock": "/srv/uv.lock",
        "alembic.ini": "/srv/alembic.ini",
    }
    assert uncopyable_sources(tmp_path) == ["uv.lock", "alembic.ini"]
    (tmp_path / "Dockerfile").write_text("FROM python:3.11-slim\nCOPPY app ./app\n")
    with pytest.raises(AssertionError, match="COPPY"):
        stages(tmp_path / "Dockerfile")


def test_compose_builds_from_directories_with_a_dockerfile(merged: dict[str, Any]) -> None:
    contexts = {
        name: service["build"]["context"]
        for name, service in merged["services"].items()
        if "build" in service
    }
    assert contexts == {"prestart": "./backend", "backend": "./backend", "frontend": "./frontend"}
    for context in contexts.values():
        assert (REPO / context / "Dockerfile").is_file()
        assert (REPO / context / ".dockerignore").is_file()


def backend_listen_port() -> int:
    cmd = [c for c in stages(BACKEND / "Dockerfile")[-1] if c.cmd == "CMD"][-1]
    assert cmd.json, "exec form, so uvicorn gets the signals"
    assert list(cmd.value[:2]) == ["uvicorn", "app.main:app"]
    return int(cmd.value[cmd.value.index("--port") + 1])


def test_backend_image_installs_the_locked_environment_and_serves_the_app() -> None:
    (stage,) = stages(BACKEND / "Dockerfile")
    assert stage[0].value[0].startswith("python:3.11")
    runs = " ".join(" ".join(c.value) for c in stage if c.cmd == "RUN")
    assert "uv sync --frozen --no-dev" in runs
    assert "libseccomp2" in runs  # pyseccomp loads it at run time
    installed = copied_files(stage)
    assert {"pyproject.toml", "uv.lock", "alembic.ini", "scripts", "app"} <= set(installed)
    assert installed["alembic.ini"] == "/app/alembic.ini"
    assert backend_listen_port() == 8000
    assert "8000" in [c.value[0] for c in stage if c.cmd == "EXPOSE"]


def test_dev_backend_reloads_the_same_app(merged: dict[str, Any]) -> None:
    command = merged["services"]["backend"]["command"]
    assert command[:2] == ["uvicorn", "app.main:app"]
    assert "--reload" in command
    assert command[command.index("--port") + 1] == str(backend_listen_port())


def test_frontend_image_builds_the_spa_and_serves_it_with_nginx() -> None:
    build, serve = stages(FRONTEND / "Dockerfile")
    assert build[0].value[0].startswith("node:20")
    build_runs = [" ".join(c.value) for c in build if c.cmd == "RUN"]
    assert any("npm ci" in run for run in build_runs)
    assert build_runs[-1] == "npm run build"
    assert "build" in json.loads((FRONTEND / "package.json").read_text())["scripts"]
    assert serve[0].value[0].startswith("nginx:")
    assert copied_files(serve) == {"nginx.conf": "/etc/nginx/conf.d/default.conf"}
    (dist,) = [c for c in serve if c.cmd == "COPY" and "--from=build" in c.flags]
    assert list(dist.value) == ["/app/dist", "/usr/share/nginx/html"]


def test_nginx_serves_the_spa_and_forwards_the_api(base: dict[str, Any]) -> None:
    conf = (FRONTEND / "nginx.conf").read_text()
    assert "root /usr/share/nginx/html;" in conf
    assert re.search(r"location / \{\s*try_files \$uri \$uri/ /index\.html;", conf)
    assert re.search(r"location /api/ \{\s*proxy_pass \$backend_upstream;", conf)
    upstream = re.search(r"set \$backend_upstream (http://[^;]+);", conf)
    assert upstream
    target = urlsplit(upstream[1])
    assert target.hostname in base["services"]
    assert target.port == backend_listen_port()
    assert "80" in [c.value[0] for c in stages(FRONTEND / "Dockerfile")[-1] if c.cmd == "EXPOSE"]


# ---------------------------------------------------------------------------------------------
# Prestart script, run for real against a scratch database


# Two cold `alembic upgrade head` + `initial_data` processes: ~40 s on an idle 2-core machine,
# several times that while the other xdist worker (or another test run) takes the cores. The
# timeouts only guard against a hang.
@pytest.mark.timeout(600)
def test_prestart_script_migrates_and_creates_the_first_superuser() -> None:
    name = f"omc_prestart_{os.getpid()}_{secrets.token_hex(3)}"
    url = make_url(ADMIN_URL).set(database=name, drivername="postgresql+psycopg")
    email, password = "prestart@example.com", secrets.token_urlsafe(12)
    env = {
        **os.environ,
        "DATABASE_URL": url.render_as_string(hide_password=False),
        "FIRST_SUPERUSER": email,
        "FIRST_SUPERUSER_PASSWORD": password,
        # "With the venv active": its bin/ (alembic, python) first on PATH.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    heads = set(ScriptDirectory.from_config(Config(str(BACKEND / "alembic.ini"))).get_heads())
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        # Twice: compose runs it on every `up`, so a second run must change nothing.
        for _ in range(2):
            done = subprocess.run(
                ["bash", str(BACKEND / "scripts" / "prestart.sh")],
                cwd=REPO,
                env=env,
                capture_output=True,
                text=True,
                timeout=280,
            )
            assert done.returncode == 0, done.stderr
        plain_url = url.set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(plain_url) as conn:
            versions = {row[0] for row in conn.execute("SELECT version_num FROM alembic_version")}
            users = conn.execute(
                'SELECT is_superuser FROM "user" WHERE email = %s', (email,)
            ).fetchall()
        assert versions == heads
        assert users == [(True,)]
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


# ---------------------------------------------------------------------------------------------
# GitHub workflows


@pytest.fixture(scope="module")
def workflows() -> dict[str, Any]:
    return {path.name: load_yaml(path) for path in sorted(WORKFLOWS.glob("*.yml"))}


def test_workflows_follow_the_github_schema(
    workflow_schema: Validator, workflows: dict[str, Any]
) -> None:
    assert set(workflows) >= {"test.yml", "build.yml"}
    for name, workflow in workflows.items():
        assert schema_errors(workflow_schema, workflow) == [], name


def test_workflow_schema_rejects_a_broken_copy(
    workflow_schema: Validator, workflows: dict[str, Any]
) -> None:
    broken = copy.deepcopy(workflows["test.yml"])
    job = broken["jobs"]["test"]
    job["runs_on"] = job.pop("runs-on")
    assert schema_errors(workflow_schema, broken)
    unparsed = copy.deepcopy(workflows["build.yml"])
    unparsed[True] = unparsed.pop("on")  # what a YAML 1.1 parser makes of `on:`
    assert schema_errors(workflow_schema, unparsed)


def steps_using(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [step for step in job["steps"] if step.get("uses", "").startswith(action + "@")]


def test_test_workflow_runs_scripts_test_sh_against_a_postgres_service(
    workflows: dict[str, Any],
) -> None:
    job = workflows["test.yml"]["jobs"]["test"]
    (service_name, service), *others = job["services"].items()
    assert not others
    assert service["image"] == "postgres:16"
    assert "--health-cmd" in service["options"]
    for variable in ("DATABASE_URL", "OMC_TEST_ADMIN_URL"):
        url = urlsplit(job["env"][variable])
        # A job in a container reaches a service by its name; on the runner, by localhost.
        assert url.hostname == (service_name if "container" in job else "localhost")
        assert url.username == service["env"]["POSTGRES_USER"]
        assert url.password == service["env"]["POSTGRES_PASSWORD"]
    runs = [step["run"] for step in job["steps"] if "run" in step]
    assert any(run.strip() == "bash scripts/test.sh" for run in runs)
    assert (REPO / "scripts" / "test.sh").is_file()
    assert any("chromium" in run for run in runs)
    (uv,) = steps_using(job, "astral-sh/setup-uv")
    assert uv["with"]["python-version"] == "3.11"
    assert (REPO / uv["with"]["cache-dependency-glob"]).is_file()
    (node,) = steps_using(job, "actions/setup-node")
    build_stage_image = stages(FRONTEND / "Dockerfile")[0][0].value[0]
    assert build_stage_image.startswith(f"node:{node['with']['node-version']}-")
    assert (REPO / node["with"]["cache-dependency-path"]).is_file()


def test_build_workflow_builds_both_images_without_pushing(workflows: dict[str, Any]) -> None:
    job = workflows["build.yml"]["jobs"]["image"]
    images = job["strategy"]["matrix"]["image"]
    assert images == ["backend", "frontend"]
    (build,) = steps_using(job, "docker/build-push-action")
    assert build["with"]["push"] is False
    for image in images:
        context = build["with"]["context"].replace("${{ matrix.image }}", image)
        dockerfile_path = build["with"]["file"].replace("${{ matrix.image }}", image)
        assert (REPO / dockerfile_path).is_file()
        assert (REPO / context / ".dockerignore").is_file()
    stack_runs = " ".join(
        s.get("run", "") for s in workflows["build.yml"]["jobs"]["stack"]["steps"]
    )
    assert "cp .env.example .env" in stack_runs
    assert HEALTH_PATH in stack_runs
