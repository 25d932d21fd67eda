"""The Airflow compose stack (docker-compose.airflow.yml) and the image it builds (Dockerfile).

Static checks only: no Docker engine is needed. The file is parsed with PyYAML and compose's
`${VAR:-default}` interpolation is emulated, which is what `docker compose config` would otherwise
be needed for.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from devtools.celery_executor import CELERY_APP, COMPONENT_COMMANDS, celery_executor_settings

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.airflow.yml"
DOCKERFILE = REPO / "Dockerfile"
DEPLOYMENT_GUIDE = REPO / "docs" / "deployment.md"
DAG_ID = "aws_iam_users_ocsf"

# service -> its command, from the table the CeleryExecutor e2e test starts its components from.
COMPONENT_OF_SERVICE = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
    "airflow-worker": "celery-worker",
}
AIRFLOW_COMPONENTS = {
    service: " ".join(COMPONENT_COMMANDS[component])
    for service, component in COMPONENT_OF_SERVICE.items()
}
LONG_RUNNING = {"postgres", "redis", "moto-iam", *AIRFLOW_COMPONENTS}
REQUIRED_SERVICES = {*LONG_RUNNING, "airflow-init", "airflow-cli"}
# Every service that runs Airflow code against the shared metadata database.
AIRFLOW_SERVICES = {*AIRFLOW_COMPONENTS, "airflow-init", "airflow-cli"}

# compose-go: `$$` is a literal `$`; `${NAME...}` ends at the first `}` (a `{` does not nest).
_INTERPOLATION = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[^}]*)\}|(?P<named>[_A-Za-z][_A-Za-z0-9]*)|(?P<invalid>))"
)
_BRACED = re.compile(r"(?P<name>[_A-Za-z][_A-Za-z0-9]*)(?::-(?P<default>.*))?$", re.DOTALL)


def interpolate(value: str, env: dict[str, str] | None = None) -> str:
    """Resolve `value` as compose would, with `env` as the host environment (default: empty)."""
    env = env or {}

    def replace(match: re.Match) -> str:
        if match["escaped"]:
            return "$"
        if match["braced"] is None:
            raise ValueError(f"unsupported interpolation {match[0]!r} in {value!r}")
        braced = _BRACED.match(match["braced"])
        if braced is None:
            raise ValueError(f"unsupported interpolation {match[0]!r} in {value!r}")
        if env.get(braced["name"]):
            return env[braced["name"]]
        return braced["default"] or ""

    return _INTERPOLATION.sub(replace, value)


def _strings(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, item in node.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)


def _as_text(command) -> str:
    return command if isinstance(command, str) else " ".join(map(str, command))


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


@pytest.fixture(scope="module")
def dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    instructions = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


def _environment(service: dict) -> dict[str, str]:
    env = service.get("environment", {})
    assert isinstance(env, dict), "environment should be a mapping (merged from x-airflow-common)"
    return {key: str(value) for key, value in env.items()}


def _constraint_pin(name: str, airflow_version: str) -> str:
    """``name``'s version in the project's constraints file for ``airflow_version``."""
    path = REPO / "constraints" / f"airflow-{airflow_version}.txt"
    assert path.exists(), f"no constraints file for Airflow {airflow_version}: {path}"
    for line in path.read_text().splitlines():
        pinned, _, version = line.strip().partition("==")
        if pinned.lower() == name:
            return version
    raise AssertionError(f"{name} is not pinned in {path.name}")


def test_stack_has_the_official_services_plus_the_demo_iam(services):
    assert REQUIRED_SERVICES <= set(services), REQUIRED_SERVICES - set(services)


@pytest.mark.parametrize(("service", "command"), sorted(AIRFLOW_COMPONENTS.items()))
def test_each_airflow_component_runs_its_own_command(services, service, command):
    assert _as_text(services[service]["command"]) == command


@pytest.mark.parametrize("service", sorted(LONG_RUNNING))
def test_long_running_services_have_health_checks_and_restart(services, service):
    healthcheck = services[service].get("healthcheck", {})
    assert healthcheck.get("test"), f"{service} has no healthcheck"
    assert healthcheck["test"][0] in {"CMD", "CMD-SHELL"}
    assert services[service].get("restart") == "always"


@pytest.mark.parametrize(
    ("service", "probe"),
    [
        ("postgres", "pg_isready"),
        ("redis", "redis-cli ping"),
        ("airflow-apiserver", "curl --fail http://localhost:8080/api/v2/version"),
        ("airflow-scheduler", "curl --fail http://localhost:8974/health"),
        ("airflow-dag-processor", "airflow jobs check --job-type DagProcessorJob"),
        ("airflow-triggerer", "airflow jobs check --job-type TriggererJob"),
        ("airflow-worker", f"celery --app {CELERY_APP} inspect ping"),
    ],
)
def test_health_checks_probe_what_the_service_does(services, service, probe):
    assert probe in _as_text(services[service]["healthcheck"]["test"][1:])


def test_scheduler_health_server_is_enabled(services):
    env = _environment(services["airflow-scheduler"])
    assert env["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"] == "true"


def test_container_hostname_in_health_checks_is_not_interpolated_by_compose(compose):
    # `${HOSTNAME}` would be replaced by the host's value when the file is loaded.
    for text in _strings(compose):
        if "HOSTNAME" in text:
            assert "$${HOSTNAME}" in text and "${HOSTNAME}" not in text.replace("$${", "")


def test_execution_api_url_points_at_the_api_server(services):
    apiserver = services["airflow-apiserver"]
    container_ports = {str(port).rpartition(":")[2] for port in apiserver["ports"]}
    for name in AIRFLOW_SERVICES:
        url = urlsplit(_environment(services[name])["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
        assert url.scheme == "http"
        assert url.hostname == "airflow-apiserver" and url.hostname in services
        assert str(url.port) in container_ports
        assert url.path == "/execution/"
    assert "localhost:8080" in _as_text(apiserver["healthcheck"]["test"])


def test_executor_is_celery_with_redis_broker_and_postgres_results(services):
    for name in AIRFLOW_SERVICES:
        env = _environment(services[name])
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert urlsplit(env["AIRFLOW__CELERY__BROKER_URL"]).hostname == "redis"
        assert urlsplit(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]).hostname == "postgres"
        assert urlsplit(env["AIRFLOW__CELERY__RESULT_BACKEND"]).hostname == "postgres"


def test_celery_settings_are_the_ones_the_celery_e2e_test_runs(services):
    # tests/e2e/test_celery_e2e.py starts its stack with these settings, its own hosts and ports.
    expected = celery_executor_settings(postgres="postgres", redis="redis:6379")
    redis_port = {str(port) for port in services["redis"]["expose"]}
    assert redis_port == {"6379"}
    postgres_env = services["postgres"]["environment"]
    db = urlsplit(expected["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    assert (db.username, db.password, db.path) == (
        postgres_env["POSTGRES_USER"],
        postgres_env["POSTGRES_PASSWORD"],
        f"/{postgres_env['POSTGRES_DB']}",
    )
    for name in AIRFLOW_SERVICES:
        env = _environment(services[name])
        assert {key: env.get(key) for key in expected} == expected, name


def test_all_airflow_services_share_one_config_file(services):
    # One generated airflow.cfg = one JWT secret and fernet key for every component.
    for name in AIRFLOW_SERVICES:
        config = _environment(services[name])["AIRFLOW_CONFIG"]
        assert config.startswith("/opt/airflow/config/")
        assert any(
            interpolate(volume).endswith(":/opt/airflow/config")
            for volume in services[name]["volumes"]
        )


@pytest.mark.parametrize("service", sorted(AIRFLOW_COMPONENTS))
def test_components_wait_for_database_broker_and_init(services, service):
    depends_on = services[service]["depends_on"]
    assert depends_on["postgres"]["condition"] == "service_healthy"
    assert depends_on["redis"]["condition"] == "service_healthy"
    assert depends_on["airflow-init"]["condition"] == "service_completed_successfully"


def test_workers_start_after_the_execution_api_is_healthy(services):
    depends_on = services["airflow-worker"]["depends_on"]
    assert depends_on["airflow-apiserver"]["condition"] == "service_healthy"


def test_init_service_migrates_the_database_and_owns_the_shared_folders(services):
    init = services["airflow-init"]
    script = _as_text(init["command"])
    migrates = (
        "airflow db migrate" in script or _environment(init).get("_AIRFLOW_DB_MIGRATE") == "true"
    )
    assert migrates
    assert "airflow config list" in script
    assert init["user"] == "0:0"
    assert "chown" in script and "AIRFLOW_UID" in script
    assert "restart" not in init


def test_ui_login_defaults_to_airflow_airflow(services):
    env = _environment(services["airflow-init"])
    assert interpolate(env["_AIRFLOW_WWW_USER_USERNAME"]) == "airflow"
    assert interpolate(env["_AIRFLOW_WWW_USER_PASSWORD"]) == "airflow"
    api_env = _environment(services["airflow-apiserver"])
    assert api_env["AIRFLOW__CORE__AUTH_MANAGER"].endswith("SimpleAuthManager")
    assert interpolate(api_env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"]) == "airflow:admin"
    # The init script writes the passwords file the api-server reads.
    passwords_file = api_env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]
    assert passwords_file.startswith("/opt/airflow/config/")
    assert "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE" in _as_text(
        services["airflow-init"]["command"]
    )


def test_sample_dag_folder_is_mounted_into_the_dags_folder(services):
    for name in AIRFLOW_SERVICES:
        mounts = dict(interpolate(v).rsplit(":", 1)[::-1] for v in services[name]["volumes"])
        assert mounts["/opt/airflow/dags"] == "./dags"
    dags = REPO / "dags"
    assert dags.is_dir()
    assert (dags / f"{DAG_ID}.py").is_file(), f"dags/{DAG_ID}.py is missing"


@pytest.mark.parametrize("target", ["logs", "config", "plugins", "data"])
def test_logs_config_plugins_and_file_sink_output_are_mounted_from_the_project(services, target):
    for name in AIRFLOW_SERVICES:
        mounts = dict(interpolate(v).rsplit(":", 1)[::-1] for v in services[name]["volumes"])
        assert mounts[f"/opt/airflow/{target}"] == f"./{target}"


def test_image_is_built_from_this_repository(services):
    for name in {*AIRFLOW_SERVICES, "moto-iam"}:
        service = services[name]
        build = service["build"]
        context = build if isinstance(build, str) else build["context"]
        assert (COMPOSE_FILE.parent / context).resolve() == REPO
        assert interpolate(service["image"]) == "airflow-provider-awsiam-ocsf:latest"


def test_dockerfile_extends_the_official_image_at_the_pinned_airflow(dockerfile_instructions):
    bases = [rest for keyword, rest in dockerfile_instructions if keyword == "FROM"]
    assert len(bases) == 1
    match = re.fullmatch(r"apache/airflow:(?P<airflow>[\d.]+)-python(?P<python>3\.\d+)", bases[0])
    assert match, bases[0]
    assert match["airflow"] == _constraint_pin("apache-airflow", match["airflow"])


def test_dockerfile_pins_apache_airflow_and_installs_the_repo(dockerfile_instructions):
    env = {}
    for keyword, rest in dockerfile_instructions:
        if keyword == "ENV":
            name, _, value = rest.partition("=")
            env[name] = value
    installs = [
        shlex.split(rest)
        for keyword, rest in dockerfile_instructions
        if keyword == "RUN" and "pip install" in rest
    ]
    assert len(installs) == 1
    args = installs[0][: installs[0].index("&&")] if "&&" in installs[0] else installs[0]
    assert "apache-airflow==${AIRFLOW_VERSION}" in args
    constraint = args[args.index("--constraint") + 1]
    # The official image sets AIRFLOW_VERSION: the project's pins for the image's own Airflow.
    assert constraint == "${PROVIDER_SRC}/constraints/airflow-${AIRFLOW_VERSION}.txt"
    # With the celery extra: the Celery provider and PostgreSQL drivers the e2e test runs; with
    # the events extra: the SQS trigger of event runs (the triggerer service).
    assert "${PROVIDER_SRC}[celery,s3,events]" in args and "PROVIDER_SRC" in env

    copied = {}
    for keyword, rest in dockerfile_instructions:
        if keyword == "COPY":
            *sources, destination = [p for p in rest.split() if not p.startswith("--")]
            for source in sources:
                copied[source] = destination
    for needed in (
        "pyproject.toml",
        "constraints",
        "airflow_provider_awsiam_ocsf",
        "devtools",
    ):
        assert needed in copied, f"{needed} is not copied into the image"
        assert copied[needed].startswith("${PROVIDER_SRC}")
    for source in copied:
        assert (REPO / source).exists(), f"COPY source {source} does not exist in the repository"


def test_demo_profile_adds_a_moto_iam_seeded_with_the_demo_organisation(services):
    moto = services["moto-iam"]
    assert moto["profiles"] == ["demo"]
    command = _as_text(moto["command"])
    assert command == "python -m devtools.demo_org serve --host 0.0.0.0 --port 5000"
    # devtools/ is not installed with the provider: it runs from the copied source folder.
    assert moto["working_dir"] == "/opt/airflow-provider-awsiam-ocsf"
    assert moto["environment"]["MOTO_IAM_LOAD_MANAGED_POLICIES"] == "true"
    assert "list_users" in _as_text(moto["healthcheck"]["test"])


def test_only_the_demo_and_cli_services_are_optional(services):
    profiles = {name: service.get("profiles") for name, service in services.items()}
    assert profiles.pop("moto-iam") == ["demo"]
    assert profiles.pop("airflow-cli") == ["debug"]
    assert all(value is None for value in profiles.values()), profiles


def test_default_aws_connection_points_at_the_demo_moto_iam(services):
    moto_port = _as_text(services["moto-iam"]["command"]).split("--port ")[1].split()[0]
    for name in AIRFLOW_SERVICES:
        raw = _environment(services[name])["AIRFLOW_CONN_AWS_DEFAULT"]
        assert raw.startswith("${AIRFLOW_CONN_AWS_DEFAULT:-"), "users must be able to set their own"
        uri = urlsplit(interpolate(raw))
        assert uri.scheme == "aws"
        extra = {key: values[0] for key, values in parse_qs(uri.query).items()}
        endpoint = urlsplit(extra["endpoint_url"])
        assert (endpoint.hostname, str(endpoint.port)) == ("moto-iam", moto_port)
        assert extra["region_name"]


def test_user_supplied_aws_connection_wins_over_the_demo_default(services):
    raw = _environment(services["airflow-worker"])["AIRFLOW_CONN_AWS_DEFAULT"]
    mine = '{"conn_type": "aws", "extra": {"region_name": "eu-west-1"}}'
    assert interpolate(raw, {"AIRFLOW_CONN_AWS_DEFAULT": mine}) == mine


def test_every_interpolation_is_well_formed_and_has_a_default(compose):
    # What `docker compose config` would catch, without a Docker engine; every host variable
    # has a default so a bare `docker compose up` never warns "variable is not set".
    for text in _strings(compose):
        for match in _INTERPOLATION.finditer(text):
            if match["escaped"]:
                continue
            assert match["braced"] is not None, f"use ${{NAME}} or $$ in {text!r}"
            braced = _BRACED.match(match["braced"])
            assert braced and braced["default"] is not None, f"{match[0]!r} needs a :-default"
        interpolate(text)


def test_deployment_guide_commands_use_this_file_and_real_services(services):
    guide = DEPLOYMENT_GUIDE.read_text()
    commands = re.findall(r"docker compose [^\n`]*", guide)
    assert commands
    for command in commands:
        assert "-f docker-compose.airflow.yml" in command, command
        for service in re.findall(
            r"(?:run (?:--rm )?|exec |logs (?:-f )?)([a-z][a-z0-9-]+)", command
        ):
            assert service in services, command
        for service in re.findall(r"--scale ([a-z0-9-]+)=", command):
            assert service in services, command
    assert f"airflow backfill create --dag-id {DAG_ID}" in guide
    assert "--profile demo" in guide


def test_the_image_gets_the_celery_provider_through_the_extra():
    # Every package of the extra is pinned in each constraints file (test_packaging checks that),
    # so the image gets the versions tests/e2e/test_celery_e2e.py ran.
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extra = [
        re.split(r"[<>=!~\[; ]", line.strip(), maxsplit=1)[0].lower()
        for line in project["optional-dependencies"]["celery"]
    ]
    assert "apache-airflow-providers-celery" in extra
