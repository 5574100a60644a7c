"""deployments/prefect.yaml declares the same deployments and schedules as the served ones, deploys
to a process work pool, and a process worker runs them from the installed project."""
from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import timedelta

import pytest

from deployments.serve import runner_deployments
from support.prefect_server import shared_server, subprocess_env, using_prefect

from conftest import ROOT
from factories import violence_report_data

pytestmark = pytest.mark.prefect

PREFECT = [sys.executable, "-m", "prefect"]


def _schedule(s) -> tuple:
    if getattr(s, "interval", None) is not None:
        interval = s.interval if isinstance(s.interval, timedelta) else timedelta(seconds=s.interval)
        return ("interval", interval.total_seconds())
    return ("cron", s.cron, s.timezone)


def test_prefect_yaml_deploys_the_served_deployments_to_a_process_pool_and_a_worker_runs_them(tmp_path):
    from prefect.client.orchestration import get_client

    server = shared_server()
    env = subprocess_env(server.api_url, QORGAU_HOME=str(tmp_path),
                         QORGAU_DATABASE_URL=f"sqlite:///{tmp_path / 'qorgau.sqlite'}",
                         QORGAU_DEFAULT_CHANNELS=f"eml://{tmp_path / 'eml'}")

    def run(*args):
        return subprocess.run([*PREFECT, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)

    with using_prefect(server.api_url):
        created = run("work-pool", "create", "qorgau", "--type", "process", "--overwrite")
        assert created.returncode == 0, created.stdout + created.stderr
        deployed = run("--no-prompt", "deploy", "--all", "--prefect-file", "deployments/prefect.yaml")
        assert deployed.returncode == 0, deployed.stdout[-3000:] + deployed.stderr[-3000:]
        served = {f"{d.flow_name}/{d.name}": d for d in runner_deployments()}

        async def read():
            async with get_client() as client:
                return {name: await client.read_deployment_by_name(name) for name in served}
        found = asyncio.run(read())
        try:
            for name, d in served.items():
                yaml_d = found[name]
                assert yaml_d.work_pool_name == "qorgau"
                assert [_schedule(s.schedule) for s in yaml_d.schedules] == [_schedule(s.schedule) for s in d.schedules], name
                if d.concurrency_limit is not None:
                    assert yaml_d.global_concurrency_limit.limit == d.concurrency_limit, name
                    assert yaml_d.concurrency_options.collision_strategy == d.concurrency_options.collision_strategy

            # A process worker runs a flow of it from the installed project, in QORGAU_HOME.
            started = run("deployment", "run", "launch-case/qorgau", "--param", "algorithm=violence-report",
                          "--param", "region=KZ-75", "--param", "actor=kz-75.school-1", "--param",
                          "data=" + json.dumps(violence_report_data(form="neglect", summary="synthetic")))
            assert started.returncode == 0, started.stdout + started.stderr
            worker = run("worker", "start", "--pool", "qorgau", "--run-once")
            assert "launched VR-75-000001" in worker.stdout + worker.stderr, worker.stdout[-3000:]
        finally:
            async def clean():
                async with get_client() as client:
                    for d in found.values():
                        await client.delete_deployment(d.id)
                    await client.delete_work_pool("qorgau")
            asyncio.run(clean())
