"""`qorgau serve` (what `make run` runs): the whole runtime in one command.

1. a Prefect server: the one PREFECT_API_URL points to, else a local one started here
   (SQLite under ./var/prefect), waited for until healthy;
2. the case store (QORGAU_DATABASE_URL, default ./var/qorgau.sqlite), migrated, with the bodies
   directory loaded;
3. a demo case whose escalation falls due within a couple of minutes (see deployments/demo.py);
4. every deployment served from this process: sweep-deadlines every 30 s, dispatch-notifications
   after each commit and every 60 s, plan-reporting-cycle daily, verify-histories nightly,
   launch-case on demand.

Messages of bodies without channels (all of them in the synthetic directory) are written as .eml
files to ./var/outbox-eml/. Ctrl-C stops the runner, then the local server.
"""
from __future__ import annotations

import os
import sys
from datetime import timedelta
from pathlib import Path

import typer

VAR = Path("var")


def serve(demo: bool = typer.Option(True, "--demo/--no-demo", help="Launch a synthetic demo case at start."),
          demo_lead: float = typer.Option(90.0, "--demo-escalation-in",
                                          help="Seconds from start until the demo case's escalation falls due."),
          port: int = typer.Option(None, help="Port of the local Prefect server (default 4200, or a free one)."),
          sweep_interval: float = typer.Option(None, help="Seconds between sweeps (default QORGAU_SWEEP_INTERVAL or 30)."),
          host: str = typer.Option("127.0.0.1", help="Where the web pages and the HTTP API listen."),
          http_port: int = typer.Option(8000, help="Port of the web pages and the HTTP API (QORGAU_BASE_URL should match)."),
          ) -> None:
    """Start the runtime: a local Prefect server (unless PREFECT_API_URL is set), the case store, a
    demo case, and every flow served in this process. Ctrl-C stops it all."""
    from deployments.local_server import LocalPrefectServer, healthy, wait_healthy

    server = None
    api_url = os.environ.get("PREFECT_API_URL")
    try:
        if api_url:
            typer.echo(f"Prefect server: {api_url} (PREFECT_API_URL)")
            if not healthy(api_url):
                typer.echo("  waiting for it to answer ...")
                wait_healthy(api_url, timeout=120)
        else:
            server = LocalPrefectServer(VAR / "prefect", port=port)
            typer.echo(f"starting a local Prefect server on {server.url} (SQLite in {server.home}; "
                       f"log {server.log_path}) ...")
            server.start().wait(timeout=120)
            api_url = server.api_url
            # Set before Prefect is imported: this process and every flow run it starts use them.
            os.environ["PREFECT_API_URL"] = api_url
            os.environ.setdefault("PREFECT_HOME", str(server.home))
        from notifications.channels import DEFAULT_CHANNELS_ENV, FOLDER_SCHEME, DEFAULT_EML_DIR, default_eml_folder
        os.environ.setdefault(DEFAULT_CHANNELS_ENV, FOLDER_SCHEME + str(Path(DEFAULT_EML_DIR).resolve()))
        if sweep_interval:
            os.environ["QORGAU_SWEEP_INTERVAL"] = str(sweep_interval)
        _run(api_url, demo, demo_lead, default_eml_folder(), host, http_port)
    except KeyboardInterrupt:
        pass
    except (TimeoutError, RuntimeError) as exc:
        typer.echo(f"error: {exc}", err=True)
        if server is not None:
            typer.echo(f"see {server.log_path}", err=True)
        raise typer.Exit(1)
    finally:
        if server is not None:
            typer.echo("stopping the local Prefect server ...")
            server.stop()
        typer.echo("stopped")


def _run(api_url: str, demo: bool, demo_lead: float, eml_folder: Path | None, host: str, http_port: int) -> None:
    from deployments.serve import describe, flush_prefect_services, runner_deployments, serve_all
    from flows import kick, runtime
    from states.db import database_url

    engine = runtime.engine()  # migrates the store, mirrors the directory, hooks delivery kicks
    ui = api_url[:-4] if api_url.endswith("/api") else api_url
    deployments = runner_deployments()
    for deployment in deployments:  # registered before the demo's first commit kicks a delivery
        deployment.apply()
    lines = [
        "",
        "Qorgau is running.",
        f"  Prefect UI:     {ui}   (flows, runs, logs, schedules)",
        f"  .eml folder:    {eml_folder or 'none (QORGAU_DEFAULT_CHANNELS has no eml:// channel)'}",
        f"  case store:     {database_url()}",
        f"  directory:      {len(engine.svc.directory)} bodies (a body without channels writes to the .eml folder)",
        "  deployments:",
        *[f"    {line}" for line in describe(deployments)],
    ]
    if demo:
        from deployments.demo import launch_demo
        case = launch_demo(engine, timedelta(seconds=demo_lead))
        lines += ["", *case.describe().splitlines(), f"  follow it with: qorgau show {case.ref}"]
    from app.api.server import ServerThread
    from app.web import create_site
    with ServerThread(create_site(engine), host=host, port=http_port) as site:
        lines += ["", f"  web pages:      {site.url}/   (sign in with a token: qorgau token create --help)",
                  f"  HTTP API:       {site.url}/api/v1   (docs at {site.url}/api/v1/docs)",
                  "", "Ctrl-C stops everything.", ""]
        typer.echo("\n".join(lines))
        sys.stdout.flush()
        try:
            serve_all(deployments, pause_on_shutdown=True)
        finally:
            kick.kicker().flush(3)
            flush_prefect_services()


def api(host: str = typer.Option("127.0.0.1", help="Address to listen on."),
        port: int = typer.Option(8000, help="Port of the web pages and the HTTP API."),
        workers: int = typer.Option(1, min=1, help="Worker processes sharing the port; one per core serves "
                                                   "most (SQLite writes still go one at a time)."),
        log_level: str = typer.Option("info", help="uvicorn's log level: critical, error, warning, info, debug."),
        ) -> None:
    """Serve the web pages and the HTTP API alone, without Prefect: deadlines and delivery need the
    flows running elsewhere (`qorgau serve`, or `python -m deployments.serve` as in docs/deploy.md).

    \b
    Examples:
      qorgau api                             # http://127.0.0.1:8000/
      qorgau api --host 0.0.0.0 --workers 2  # two processes on one port
    """
    from app.api.server import serve_http
    try:
        code = serve_http(host, port, workers, log_level=log_level, echo=typer.echo)
    except (OSError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2)
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    """Add `serve` and `api` to the `qorgau` command line."""
    app.command("serve")(serve)
    app.command("api")(api)
