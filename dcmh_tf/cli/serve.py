"""`dcmh-tf serve`: the retrieval service and its web page."""

from __future__ import annotations

import click

from dcmh_tf.cli import main
from dcmh_tf.cli.common import open_run, reports_errors, run_encoders, warn
from dcmh_tf.cli.startup import import_tensorflow


@main.command()
@click.argument("run", type=click.Path())
@click.option("--index", "index_path", type=click.Path(), required=True,
              help="Index file written by `dcmh-tf encode` with this run, or a Milvus collection: milvus://FILE.db "
                   "(Lite) or milvus://http://HOST:PORT (a server; token from $DCMH_MILVUS_TOKEN).")
@click.option("--collection", default=None, help="Milvus: the collection [default: the one collection of codes there].")
@click.option("--allow-other-run", is_flag=True,
              help="Serve an index encoded by another run (or by this run before more training).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind. The default answers this machine only (loopback); 0.0.0.0 exposes the "
                   "service, which has no authentication, to the network.")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="TCP port.")
@reports_errors
def serve(run, index_path, collection, allow_other_run, host, port):
    """Serve searches of INDEX through the encoders of the run in RUN over HTTP: the web page at /,
    POST /search (text, tags or an uploaded picture), GET /items/ID/image and /items/ID/text,
    GET /health, the OpenAPI schema at /docs. Binds to loopback (127.0.0.1) unless --host says otherwise.
    Encoders and index are loaded once, at start-up."""
    from dcmh_tf.retrieval.listening import listen

    sock = listen(host, port)  # before anything is loaded: a busy port fails at once, and stays ours
    run_directory = open_run(run)  # a wrong folder fails at once
    from dcmh_tf.cli.search import check_index_options
    from dcmh_tf.retrieval.searcher import open_index

    check_index_options([index_path], collection, None)
    index = open_index([index_path], collection)
    encoders = run_encoders(run_directory)  # queries through onnxruntime: no TensorFlow in the server
    import uvicorn

    from dcmh_tf.retrieval.searcher import Searcher
    from dcmh_tf.retrieval.service import make_app, warm_up

    searcher = Searcher(run, index, encoders=encoders, allow_other_run=allow_other_run)
    if searcher.backend == "tensorflow":
        import_tensorflow()  # TensorFlow's start-up lines filtered as for every command
    from dcmh_tf.hashing import collapse_warning

    warning = collapse_warning(searcher.code_spread(), what="index")
    if warning:
        warn(warning)
    warm_up(searcher)
    click.echo(f"serving {len(searcher.index)} {searcher.index.modality} codes on http://{host}:{port}/", err=True)
    server = uvicorn.Server(uvicorn.Config(make_app(searcher), host=host, port=port, log_level="warning"))
    server.run(sockets=[sock])
