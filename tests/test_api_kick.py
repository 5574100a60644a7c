"""`qorgau api` (pages and API without the flows) starts a delivery run after each commit, as
`qorgau serve` does: a fire's messages do not wait for the dispatch schedule."""
from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import httpx

from deployments.ports import free_port
from flows.delivery import dispatch_notifications
from states.store import open_engine
from states.tokens import create_token
from support.prefect_server import shared_server, subprocess_env, using_prefect

from conftest import ROOT
from factories import violence_report_data


def test_a_launch_through_qorgau_api_starts_a_delivery_run_within_seconds(tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId, FlowRunFilter, FlowRunFilterTags

    server = shared_server()
    url = f"sqlite:///{tmp_path / 'qorgau.sqlite'}"
    engine = open_engine(url)
    token = create_token(engine.db, "kz-75.education_department", "coordinator")[0]
    engine.db.dispose()
    with using_prefect(server.api_url):
        deployment_id = dispatch_notifications.to_deployment("qorgau").apply()  # nobody serves it here
        port = free_port()
        env = {**subprocess_env(server.api_url), "QORGAU_DATABASE_URL": url}
        proc = subprocess.Popen([sys.executable, "-m", "app.cli", "api", "--port", str(port), "--log-level", "warning"],
                                cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        base = f"http://127.0.0.1:{port}"

        async def kicked():
            async with get_client() as client:
                return await client.read_flow_runs(
                    deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
                    flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=["kick"])))
        try:
            _wait(lambda: _health(base), 60, "qorgau api to answer", proc)
            before = len(asyncio.run(kicked()))
            answer = httpx.post(f"{base}/api/v1/cases", headers={"Authorization": f"Bearer {token}"}, json={
                "algorithm": "violence-report", "region": "KZ-75",
                "data": violence_report_data(form="neglect", summary="synthetic")}, timeout=30)
            assert answer.status_code in (200, 201), answer.text
            _wait(lambda: len(asyncio.run(kicked())) > before, 20, "a kicked dispatch-notifications run", proc)
        finally:
            proc.terminate()
            proc.wait(timeout=30)

            async def clean():  # nobody will run them
                async with get_client() as client:
                    for r in await kicked():
                        await client.delete_flow_run(r.id)
            asyncio.run(clean())


def _health(base: str) -> bool:
    try:
        return httpx.get(f"{base}/api/v1/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _wait(predicate, timeout: float, what: str, proc) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert proc.poll() is None, f"qorgau api exited: {proc.stdout.read()[-2000:]}"
        assert time.monotonic() < deadline, f"waited {timeout} s for {what}"
        time.sleep(0.3)
