"""``pjob ui [--runs-dir D] [--kubeconfig K -n NS]``: serve the job page on
127.0.0.1 (read-only, no login): the runs of a runs folder and, given a
kubeconfig, the cluster's ParallelJobs and PipelineJobs. aiohttp serves it
(installed with ``pjob[ui]``, and with ``pjob[operator]`` through kopf).

Routes: ``/`` (the page), ``/app.js``, ``/app.css``, ``/api/runs``,
``/api/run?name=N``, ``/api/log?run=N&path=steps/S/logs/F``,
``/api/cluster`` (the cluster's jobs, with their status text).
"""

from __future__ import annotations

import asyncio
import os
import sys

from pjob.engine import jobview
from pjob.local import runview
from pjob.spec import errors
from pjob.ui import pages

HERE = os.path.dirname(os.path.abspath(__file__))
STATIC = {
    "/": ("index.html", "text/html"),
    "/app.js": ("app.js", "application/javascript"),
    "/app.css": ("app.css", "text/css"),
}


def add_arguments(p) -> None:
    p.add_argument("--runs-dir", default="pjob-runs", help="where local runs live (default ./pjob-runs)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    p.add_argument("--kubeconfig", help="also show the jobs of this cluster (read-only)")
    p.add_argument("-n", "--namespace", help="the cluster namespace (default: the kubeconfig context's)")
    p.add_argument("--context", help="kubeconfig context")


def cluster_jobs(args) -> list[dict]:
    from pjob.kube import client_connect
    from pjob.kube import constants as c

    api, namespace, _ = client_connect.connect(args)
    out = []
    for kind in (c.PIPELINE_KIND, c.PARALLEL_KIND):
        for obj in api.list(kind, namespace, {}):
            owners = obj["metadata"].get("ownerReferences") or []
            if any(o.get("kind") == c.PIPELINE_KIND for o in owners):
                continue  # shown within its pipeline
            out.append(
                {
                    "kind": kind,
                    "namespace": namespace,
                    "name": obj["metadata"]["name"],
                    "state": jobview.state_of(obj),
                    "progress": jobview.progress_text(obj.get("status") or {}),
                    "status_text": jobview.format_status(obj, {}, []),
                }
            )
    return out


def build_app(runs_dir: str, args=None):
    from aiohttp import web

    async def static(request):
        name, ctype = STATIC[request.path]
        with open(os.path.join(HERE, name), encoding="utf-8") as fh:
            return web.Response(text=fh.read(), content_type=ctype)

    def run_arg(request) -> str:
        run = runview.find_run(os.path.basename(request.query.get("name") or request.query.get("run") or ""), runs_dir)
        if run is None:
            raise web.HTTPNotFound(text="no such run")
        return run

    async def api_runs(request):
        return web.json_response(
            {
                "runs_dir": os.path.abspath(runs_dir),
                "runs": await _off(pages.runs, runs_dir),
                "cluster": bool(args is not None and args.kubeconfig),
            }
        )

    async def api_run(request):
        return web.json_response(await _off(pages.run_detail, run_arg(request)), dumps=_dumps)

    async def api_log(request):
        text = await _off(pages.read_log, run_arg(request), request.query.get("path", ""))
        if text is None:
            raise web.HTTPNotFound(text="not a file of this run's log tree")
        return web.Response(text=text)

    async def api_cluster(request):
        if args is None or not args.kubeconfig:
            return web.json_response({"jobs": []})
        try:
            return web.json_response({"jobs": await _off(cluster_jobs, args)})
        except Exception as exc:  # unreachable cluster, no CRDs: say so on the page
            return web.json_response({"jobs": [], "error": str(exc).splitlines()[0]})

    app = web.Application()
    for path in STATIC:
        app.router.add_get(path, static)
    app.router.add_get("/api/runs", api_runs)
    app.router.add_get("/api/run", api_run)
    app.router.add_get("/api/log", api_log)
    app.router.add_get("/api/cluster", api_cluster)
    return app


async def _off(fn, *a):
    return await asyncio.get_running_loop().run_in_executor(None, fn, *a)


def _dumps(obj) -> str:
    import json

    return json.dumps(obj, default=str)


async def serve(app, host: str, port: int) -> None:
    from aiohttp import web

    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1]
    print(f"pjob ui: http://{host}:{bound}/  (read-only; Ctrl-C to stop)", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main(args) -> int:
    try:
        import aiohttp  # noqa: F401
    except ImportError:
        raise errors.UserError(
            "pjob ui needs aiohttp: pip install 'pjob[ui]' (or 'pjob[operator]')", field="ui"
        ) from None
    if args.kubeconfig:
        from pjob.kube import client_connect

        client_connect.kubeconfig(args.kubeconfig, args.context)  # a bad kubeconfig is bad input, before serving
    try:
        asyncio.run(serve(build_app(args.runs_dir, args), args.host, args.port))
    except OSError as exc:
        raise errors.UserError(
            f"cannot listen on {args.host}:{args.port} ({exc.strerror or exc}); choose another --port", field="--port"
        ) from None
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    return 0
