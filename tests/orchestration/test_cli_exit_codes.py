"""Every command ends with a documented exit code and, on failure, one line naming what and why.

0 ok, 1 partial or failed check, 2 usage or configuration. Each command gets at least one failing
input; none may end in a traceback. A path under a regular file stands for an unwritable folder: it
fails for root too, where permission bits do not.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from orchestration.cli import build_parser, main
from resources.site_config import load_site_config
from resources.warehouse.store import Warehouse
from tests.conftest import free_port

DICOM_LAKE = Path(sys.executable).with_name("dicom-lake")


@dataclass(frozen=True)
class Site:
    root: Path
    config: Path
    blocker: Path  # a regular file: nothing can be created under it

    def create_warehouse(self) -> None:
        warehouse = Warehouse(load_site_config(self.config).warehouse_url())
        warehouse.create_all()
        warehouse.dispose()


@pytest.fixture()
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Site:
    for name in ("DICOM_LAKE_CONFIG", "DAGSTER_HOME", "DICOM_LAKE_WAREHOUSE_URL", "DICOM_LAKE_VAULT_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DICOM_LAKE_SECRET_KEY", "exit-codes-secret-0123456789")
    monkeypatch.setenv("DICOM_LAKE_DEMO_ROOT", str(tmp_path / "demo-root"))
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "dicom-lake.yaml"
    site_file = {
        "folders": {"root": "site"},
        "pacs": {"host": "127.0.0.1", "port": free_port(), "called_ae_title": "NOBODY"},
        "listener": {"bind_address": "127.0.0.1", "port": free_port(), "allowed_calling_ae_titles": ["PACS"]},
    }
    config.write_text(yaml.safe_dump(site_file))
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    (tmp_path / "src").mkdir()
    (tmp_path / "notdicom.txt").write_text("not a DICOM object")
    return Site(root=tmp_path, config=config, blocker=blocker)


@dataclass(frozen=True)
class Case:
    argv: Callable[[Site], list[str]]
    code: int
    says: str  # on the error line (code 2) or in stdout (code 1)
    setup: Callable[[Site], None] | None = None


def _with_site(*args: str) -> Callable[[Site], list[str]]:
    return lambda s: ["--config", str(s.config), *[a.format(blocker=s.blocker, root=s.root) for a in args]]


def _bare(*args: str) -> Callable[[Site], list[str]]:
    return lambda s: [a.format(blocker=s.blocker, root=s.root) for a in args]


CASES = {
    "pacs echo: nobody answers": Case(_with_site("pacs", "echo"), 2, "NOBODY@127.0.0.1"),
    "pacs find: nobody answers": Case(
        _with_site("pacs", "find", "--date", "2026-11-09"), 2, "NOBODY@127.0.0.1"
    ),
    "deidentify: unwritable output": Case(
        _with_site("deidentify", "{root}/src", "{blocker}/out"),
        2,
        "{blocker}/out: cannot write the de-identified output there: Not a directory",
    ),
    "deidentify: no source": Case(
        _with_site("deidentify", "{root}/nope", "{root}/out"), 2, "nope: no such folder"
    ),
    "reidentify: no vault key": Case(_with_site("reidentify", "P-1"), 2, "DICOM_LAKE_VAULT_KEY is not set"),
    "rdsr: not DICOM": Case(_bare("rdsr", "{root}/notdicom.txt"), 1, '"document_type": "not_dicom"'),
    "rdsr: missing": Case(_bare("rdsr", "{root}/nope.dcm"), 1, '"document_type": "missing"'),
    "export: unwritable --out": Case(
        _with_site("export", "--from", "2026-11-09", "--to", "2026-11-09", "--out", "{blocker}/x"),
        2,
        "{blocker}/x: cannot write the export there: Not a directory",
        setup=Site.create_warehouse,
    ),
    "export: empty warehouse": Case(
        _with_site("export", "--from", "2026-11-09", "--to", "2026-11-09", "--out", "{root}/x"),
        2,
        "has no tables yet",
    ),
    "listen: port out of range": Case(
        _with_site("listen", "--port", "99999"),
        2,
        "--port 99999: Input should be less than or equal to 65535",
    ),
    "listen: spool under a file": Case(
        lambda s: ["--config", str(_spool_under_blocker(s)), "listen", "--port", "0"],
        2,
        "{blocker}/spool: Not a directory",
    ),
    "health: listener down": Case(_with_site("health"), 1, "listener DOWN"),
    "backfill: reversed range": Case(
        _with_site("backfill", "--from", "2026-11-11", "--to", "2026-11-09"), 2, "is before --from"
    ),
    "partitions adopt: the site lists no such source": Case(
        _with_site("partitions", "adopt", "--source", "west"),
        2,
        "--source west: not a source of the site file",
    ),
    "demo: no days": Case(_bare("demo", "--days", "0"), 2, "--days 0: must be at least 1"),
    "ui: no demo yet": Case(_bare("ui"), 2, "no demo site yet"),
    "corpus generate: target is a file": Case(
        _bare("corpus", "generate", "{blocker}"), 2, "{blocker}: exists and is not a folder"
    ),
    "corpus generate: target under a file (OSError)": Case(
        _bare("corpus", "generate", "{blocker}/corpus"), 2, "{blocker}/corpus: Not a directory"
    ),
    "conformance: unwritable --out": Case(
        _bare("conformance", "--out", "{blocker}/statement.md"),
        2,
        "{blocker}/.statement.md.part: Not a directory",
    ),
    "report: empty warehouse": Case(
        _with_site("report", "--from", "2026-11-09", "--to", "2026-11-09", "--out", "{root}/r"),
        2,
        "no curated study",
        setup=Site.create_warehouse,
    ),
    "report: reversed period": Case(
        _with_site("report", "--from", "2026-11-11", "--to", "2026-11-09", "--out", "{root}/r"),
        2,
        "2026-11-09",
    ),
    "worker: unknown queue": Case(_with_site("worker", "--queues", "gpu"), 2, "--queues 'gpu': choose among"),
    "worker: broker down": Case(
        lambda s: [
            "--config",
            str(s.config),
            "worker",
            "--broker",
            f"amqp://guest:guest@127.0.0.1:{free_port()}//",
        ],
        2,
        "cannot connect",
    ),
}


def _spool_under_blocker(s: Site) -> Path:
    config = s.root / "blocked.yaml"
    data = yaml.safe_load(s.config.read_text())
    data["folders"] = {"root": str(s.blocker)}
    config.write_text(yaml.safe_dump(data))
    return config


def test_every_command_has_a_failing_case() -> None:
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    assert commands is not None
    tested = {name.split(":")[0].split()[0] for name in CASES}
    assert set(commands) <= tested, set(commands) - tested


@pytest.mark.parametrize("name", list(CASES))
def test_a_failing_input_gives_its_exit_code_and_one_line(
    name: str, site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    case = CASES[name]
    if case.setup is not None:
        case.setup(site)
    code = main(case.argv(site))
    captured = capsys.readouterr()
    says = case.says.format(blocker=site.blocker, root=site.root)
    assert "Traceback" not in captured.err
    assert code == case.code, captured.err
    errors = [line for line in captured.err.splitlines() if line.startswith("dicom-lake: error:")]
    if case.code == 2:
        assert len(errors) == 1, captured.err
        assert says in errors[0], errors[0]
    else:
        assert errors == []
        assert says in captured.out


@pytest.mark.timeout(120)
def test_worker_broker_option_wins_over_the_app_imported_before(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    # The celery app reads the broker when first imported; a caller in the same process (the test
    # suite, an embedding service) may have imported it with a broker that answers: --broker must still
    # decide, or the worker starts serving the wrong broker instead of failing.
    import orchestration.celery_app  # noqa: F401

    dead = f"amqp://guest:guest@127.0.0.1:{free_port()}//"
    assert main(["--config", str(site.config), "worker", "--broker", dead]) == 2
    assert "cannot connect" in capsys.readouterr().err


def test_the_site_file_read_is_reported_on_stderr(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(site.config), "health", "--json"]) == 1
    captured = capsys.readouterr()
    assert f"dicom-lake: site file: {site.config.resolve()}" in captured.err.splitlines()
    assert json.loads(captured.out)["status"] == "down"  # stdout stays machine-readable


def test_running_on_the_defaults_is_reported_on_stderr(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    site.config.unlink()  # no ./dicom-lake.yaml, no $DICOM_LAKE_CONFIG
    assert main(["health", "--json"]) == 1
    captured = capsys.readouterr()
    line = "dicom-lake: no site file (./dicom-lake.yaml or $DICOM_LAKE_CONFIG); using defaults"
    assert line in captured.err.splitlines()
    assert json.loads(captured.out)["status"] == "down"


def test_help_documents_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "exit codes:" in out
    for code in ("0  done", "1  done in part, or a check failed", "2  usage or configuration"):
        assert code in out


def test_a_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["no-such-command"])
    assert exited.value.code == 2


def _run(site: Site, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TCP_NODELAY": "1"}
    return subprocess.run(
        [str(DICOM_LAKE), *args], cwd=site.root, env=env, capture_output=True, text=True, timeout=60
    )


def test_the_installed_command_listening_on_a_port_in_use_exits_2(site: Site) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _run(site, "--config", str(site.config), "listen", "--port", str(port))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1] == (
        f"dicom-lake: error: cannot listen on 127.0.0.1:{port}: Address already in use"
    )


def test_the_installed_command_on_a_non_dicom_file_exits_1(site: Site) -> None:
    result = _run(site, "rdsr", str(site.root / "notdicom.txt"))
    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout)["document_type"] == "not_dicom"
    assert "Traceback" not in result.stderr
