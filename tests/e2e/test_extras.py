"""``pip install aiki`` is the core only; every other dependency is an extra (pyproject.toml, aiki.extras).

Each test runs a fresh interpreter in which the packages of the extras cannot be imported (a meta path finder
refuses them, as if they were not installed): the embedded SQLite workflow runs to its result, and each
feature that needs an extra raises one ``ConfigurationError`` naming that extra and the ``pip install`` line.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from aiki.extras import EXTRAS

ROOT = Path(__file__).resolve().parents[2]
EVERY_EXTRA_PACKAGE = (
    "httpx",
    "starlette",
    "uvicorn",
    "psycopg",
    "psycopg_pool",
    "prometheus_client",
    "redis",
    "opentelemetry",
)


def blocker(blocked: tuple[str, ...]) -> str:
    """Code that makes ``blocked`` (top-level packages) unimportable for the rest of the process."""
    return (
        "import sys\n"
        "from importlib.abc import MetaPathFinder\n"
        "class Uninstalled(MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.split('.')[0] in {blocked!r}:\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "        return None\n"
        "sys.meta_path.insert(0, Uninstalled())\n"
    )


def run_without(code: str, tmp_path: Path, blocked: tuple[str, ...] = EVERY_EXTRA_PACKAGE) -> str:
    finished = subprocess.run(
        [sys.executable, "-c", blocker(blocked) + code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr
    return finished.stdout


EMBEDDED_RUN = """
import asyncio, json
import aiki
from aiki import client, database, server, task, worker, workflow

@task(name="add-one")
async def add_one(input: dict) -> dict:
    return {"n": input["n"] + 1}

counting = workflow(name="counting")

@counting.v("1")
async def counting_v1(run, input):
    step = await add_one.start(run, input)
    await run.sleep("pause", {"milliseconds": 50})
    return step

async def main():
    srv = server(db=database("sqlite:///core.db"))
    runtime = await srv.runtime.start()
    c = client(server=srv)
    running = await worker(workflows=[counting_v1]).start(c)
    try:
        handle = await counting_v1.start(c, {"n": 1})
        result = await handle.wait_for_status("completed", timeout={"seconds": 30})
        statuses = [step.to_status for step in await c.get_timeline(handle.run.id)]
    finally:
        await running.stop()
        await runtime.stop()
        await srv.close()
    loaded = sorted({name.split(".")[0] for name in sys.modules} & set(BLOCKED))
    print(json.dumps({"output": result.output, "statuses": statuses, "loaded": loaded}))

asyncio.run(main())
"""


def test_the_core_alone_runs_an_embedded_sqlite_workflow_to_its_result(tmp_path: Path) -> None:
    code = f"BLOCKED = {EVERY_EXTRA_PACKAGE!r}\n" + EMBEDDED_RUN
    report = json.loads(run_without(code, tmp_path))

    assert report["output"] == {"n": 2}
    assert report["statuses"][-3:] == ["queued", "running", "completed"]
    assert "sleeping" in report["statuses"]
    assert report["loaded"] == []


#: (what the user does, the extra its error must name)
GATED = {
    "postgres database": ("database('postgresql://postgres@127.0.0.1:5432/test')", "postgres"),
    "postgres server URL": ("server(db='postgresql://postgres@127.0.0.1:5432/test')", "postgres"),
    "http client": ("client(url='http://127.0.0.1:9850')", "http"),
    "http transport import": ("__import__('aiki.client.http')", "http"),
    "http app": ("server(db='sqlite:///x.db').app", "server"),
    "redis wake-ups": (
        "server(db='sqlite:///x.db', opts={'redis_url': 'redis://127.0.0.1:6379/0'})",
        "redis",
    ),
}


@pytest.mark.parametrize(("expression", "extra"), GATED.values(), ids=GATED.keys())
def test_a_feature_whose_extra_is_missing_raises_one_error_naming_the_extra(
    expression: str, extra: str, tmp_path: Path
) -> None:
    code = (
        "from aiki import ConfigurationError, client, database, server\n"
        "try:\n"
        f"    {expression}\n"
        "except ConfigurationError as error:\n"
        "    print(error)\n"
        "else:\n"
        "    print('no error')\n"
    )
    message = run_without(code, tmp_path)

    assert f"needs the {extra} extra: pip install 'aiki[{extra}]'" in message


def test_the_http_app_without_prometheus_client_alone_names_the_server_extra(tmp_path: Path) -> None:
    code = (
        "from aiki import ConfigurationError, server\n"
        "try:\n"
        "    server(db='sqlite:///x.db').app\n"
        "except ConfigurationError as error:\n"
        "    print(error)\n"
    )
    message = run_without(code, tmp_path, blocked=("prometheus_client",))

    assert "GET /metrics" in message and "pip install 'aiki[server]'" in message


@pytest.mark.parametrize(
    ("argv", "extra"),
    [
        (["server", "--db", "sqlite:///x.db", "--port", "9"], "server"),
        (["runs", "list", "--url", "http://127.0.0.1:9"], "http"),
        (["runs", "list", "--db", "postgresql://postgres@127.0.0.1:5432/test"], "postgres"),
    ],
    ids=["aiki server", "aiki runs list --url", "aiki runs list --db postgresql"],
)
def test_the_cli_says_which_extra_a_command_needs_in_one_line(
    argv: list[str], extra: str, tmp_path: Path
) -> None:
    code = f"from aiki.cli.main import main\nraise SystemExit(main({argv!r}))\n"
    finished = subprocess.run(
        [sys.executable, "-c", blocker(EVERY_EXTRA_PACKAGE) + code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert finished.returncode == 2, finished.stderr
    [line] = finished.stderr.splitlines()
    assert line.startswith("aiki: ") and f"pip install 'aiki[{extra}]'" in line
    assert finished.stdout == ""


def test_the_extras_of_pyproject_install_what_aiki_extras_requires() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    core = {requirement.split(">")[0].split("[")[0] for requirement in pyproject["dependencies"]}
    extras = pyproject["optional-dependencies"]

    assert core == {"pydantic", "croniter", "typing_extensions"}
    for extra, modules in EXTRAS.items():
        installed = {
            requirement.split(">")[0].split("[")[0].replace("-", "_") for requirement in extras[extra]
        }
        assert installed >= {module.replace("opentelemetry", "opentelemetry_api") for module in modules}, (
            extra
        )
    assert extras["all"] == [f"aiki[{','.join(EXTRAS)}]"]
    assert "aiki[all]" in extras["dev"]
