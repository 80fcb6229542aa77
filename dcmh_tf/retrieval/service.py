"""The retrieval service: a run's encoders and a Hamming index behind HTTP (FastAPI).

    POST /search              form fields: text, tags or an uploaded picture (image); k; radius; offset
                              (paging); labels (the query's labels, when the user knows them); label (only
                              items with this label: a Milvus collection filters in the engine)
    GET  /items/{id}/image    the item's original picture (collections prepared with sources only)
    GET  /items/{id}/text     the item's original text, UTF-8
    GET  /health              {"status": "ok", ...}; 503 {"status": "unavailable", "detail"} when the index's
                              engine (a Milvus server) does not answer
    GET  /                    the web page; /docs and /openapi.json the OpenAPI schema

Encoders and index are loaded once (`Searcher`); the files served under /items come from the
collection's own sources list, looked up by integer id: no path from a request reaches the filesystem.
"""

# no `from __future__ import annotations`: FastAPI reads the route signatures at run time

import io
import threading
from pathlib import Path
from typing import Any

from dcmh_tf.errors import DataError, DcmhError
from dcmh_tf.retrieval.searcher import Searcher, decode_image

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000
MAX_K = 1000
MAX_TEXT_CHARS = 10_000
MAX_OFFSET = 100_000
# the built-in datasets' texts are English tags or captions (their vocabularies hold few stop words to guess from)
DATASET_LANGUAGES = {"demo": "en", "mirflickr25k": "en", "nus-wide": "en", "iapr-tc12": "en"}
PAGE = Path(__file__).with_name("serve_page.html")


class QueryError(DataError):
    """A request that cannot be answered as sent (answered with HTTP 4xx)."""

    def __init__(self, message: str, status: int = 422):
        super().__init__(message)
        self.status = status


def check_picture(data: bytes, max_bytes: int = MAX_UPLOAD_BYTES, max_pixels: int = MAX_PIXELS) -> None:
    """Raise `QueryError` for an upload over `max_bytes`, that is not a picture, is truncated, or
    would decode to more than `max_pixels` pixels (a decompression bomb), before TensorFlow decodes it."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise QueryError("the uploaded picture is empty (0 bytes).", 400)
    if len(data) > max_bytes:
        raise QueryError(f"the uploaded picture has {len(data)} bytes; the limit is {max_bytes}.", 413)
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise QueryError(f"the picture is {width}×{height} = {width * height} pixels; the limit is "
                                 f"{max_pixels} (a decompression bomb is refused unread).", 413)
            if image.format not in ("PNG", "JPEG", "GIF", "BMP"):
                raise QueryError(f"the upload is a {image.format} picture; send PNG, JPEG, GIF or BMP.", 415)
            image.load()
    except QueryError:
        raise
    except UnidentifiedImageError:  # Pillow's message names an internal BytesIO object
        raise QueryError(f"the upload is not a PNG, JPEG, GIF or BMP picture (its {len(data)} bytes start "
                         f"{data[:8]!r}); send a picture file.", 415) from None
    except Image.DecompressionBombError as error:
        raise QueryError(f"the picture is too large to decode ({error}).", 413) from None
    except (OSError, SyntaxError, ValueError) as error:
        message = str(error) or type(error).__name__
        if "truncated" in message.lower():
            raise QueryError(f"the uploaded picture is truncated ({message}); send the whole file.", 400) from None
        raise QueryError(f"the upload is not a PNG, JPEG, GIF or BMP picture ({message}).", 415) from None


class ItemFiles:
    """Where each index position's original picture and text are, from the collection's sources.

    sources: the list `dcmh_tf.data.collection.read_item_sources` returns (row i = dataset row i),
    or None when the run's dataset has none (then /items answers 404)."""

    def __init__(self, sources: list[dict] | None):
        self.sources = sources

    def _source(self, row: int) -> dict | None:
        if self.sources is None or not 0 <= row < len(self.sources):
            return None
        return self.sources[row]

    def image_path(self, row: int) -> Path | None:
        source = self._source(row)
        path = source and source.get("image")
        return Path(path) if path and Path(path).is_file() else None

    def text(self, row: int) -> str | None:
        source = self._source(row)
        return source.get("text") if source else None


def find_sources(searcher: Searcher) -> list[dict] | None:
    """The sources of the run's prepared collection, or None when its dataset has none."""
    from dcmh_tf.data.collection import read_item_sources

    data_path = searcher.run.config.data_path
    if not data_path:
        return None
    try:
        return read_item_sources(data_path)
    except DcmhError:
        return None


def collection_language(searcher: Searcher, files: "ItemFiles") -> str | None:
    """The BCP 47 tag of the collection's texts (`dcmh_tf.text.guess_language` on up to 500 of them, or
    on the tag vocabulary), else the built-in dataset's; None when unknown."""
    from dcmh_tf.text import guess_language

    if files.sources is not None:
        texts = [source.get("text") or "" for source in files.sources[:500]]
    else:
        texts = [" ".join(searcher.inputs.get("tag_vocabulary") or [])]
    return guess_language(texts) or DATASET_LANGUAGES.get(searcher.inputs.get("dataset"))


def pictures_note(searcher: Searcher, files: "ItemFiles") -> str | None:
    """One line saying why results come without pictures, or None when they have them."""
    inputs, dataset = searcher.inputs, searcher.inputs.get("dataset")
    if inputs["image_kind"] != "pixels":
        return (f"No pictures to show: this run's images are pre-extracted features ({inputs['image_dim']}-d "
                f"vectors), so results are listed by item, labels and distance.")
    if files.sources is None:
        return (f"No pictures to show: the {dataset} dataset of this run has no picture files (only arrays), so "
                f"results are listed by item, labels and distance.")
    if not any(files.image_path(row) is not None for row in range(min(len(files.sources), 50))):
        return ("No pictures to show: the collection's picture files are not where it was prepared (moved?), so "
                "results are listed by item, labels and text.")
    return None


def parse_labels(text: str, index) -> list:
    """The query's labels from a form field (names, or column numbers when the index has no names),
    checked against the index's labels. Raises `QueryError` for an unknown one."""
    labels = getattr(index, "labels", None)  # a Milvus collection keeps its labels in the engine, by name
    if labels is None and not index.label_names:
        raise QueryError("labels: this index holds no labels, so results cannot be marked against the query's.")
    names = [part.strip() for part in text.replace(";", ",").split(",") if part.strip()]
    known = list(index.label_names) if index.label_names else list(range(labels.shape[1]))
    wanted = []
    for name in names:
        value = name if index.label_names else (int(name) if name.isdigit() else name)
        if value not in known:
            shown = ", ".join(map(str, known[:20])) + (", ..." if len(known) > 20 else "")
            raise QueryError(f"labels: expected names among {shown}; received {name!r}.")
        wanted.append(value)
    return wanted


def warm_up(searcher: Searcher) -> None:
    """Restore the encoders and trace their compiled forward once, so the first request is fast."""
    import numpy as np

    inputs = searcher.inputs
    for modality, dim in (("image", None), ("text", inputs["text_dim"])):
        if modality == "image":
            size = searcher.run.config.image_size
            shape = (1, size, size, 3) if inputs["image_kind"] == "pixels" else (1, inputs["image_dim"])
        else:
            shape = (1, dim)
        searcher.forward(modality)(np.zeros(shape, np.float32))


def make_app(searcher: Searcher, files: ItemFiles | None = None, *, max_upload_bytes: int = MAX_UPLOAD_BYTES,
             max_pixels: int = MAX_PIXELS):
    """The FastAPI application answering queries with `searcher`."""
    from fastapi import FastAPI, File, Form, HTTPException, UploadFile
    from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse

    files = files if files is not None else ItemFiles(find_sources(searcher))
    index = searcher.index
    language = collection_language(searcher, files)
    note = pictures_note(searcher, files) if index.modality == "image" else None
    # One query at a time through TensorFlow and the index: the forward is compiled once and the
    # search is vectorised, so threads would only contend for the same two cores.
    lock = threading.Lock()
    app = FastAPI(title="dcmh-tf retrieval", version="1",
                  description="Cross-modal Hamming search with a trained DCMH run.")

    @app.exception_handler(DcmhError)
    async def _dcmh_error(request, error: DcmhError):
        return JSONResponse({"detail": str(error)}, status_code=getattr(error, "status", 422))

    @app.get("/health")
    def health():
        # the index's engine may be a server of its own (Milvus): its state is the service's
        state = searcher.engine.health()
        body = {"status": state["status"], "run": str(searcher.run.path), "bits": index.bits,
                "items": state.get("items"), "index": getattr(index, "uri", None) or "file",
                "index_modality": index.modality, "dataset": index.dataset, "queries": searcher.query_kinds(),
                "has_files": files.sources is not None, "language": language, "pictures_note": note,
                "label_names": (list(index.label_names) if index.label_names else None)
                if getattr(index, "labels", None) is not None or hasattr(index, "uri") else None}
        if state["status"] != "ok":
            return JSONResponse({**body, "detail": state.get("detail", "")}, status_code=503)
        return body

    @app.post("/search")
    def search(text: str | None = Form(None), tags: str | None = Form(None), image: UploadFile | None = File(None),
               k: int | None = Form(None), radius: int | None = Form(None), offset: int = Form(0),
               labels: str | None = Form(None), label: str | None = Form(None)) -> dict[str, Any]:
        given = [name for name, value in (("text", text), ("tags", tags), ("image", image)) if value is not None]
        if len(given) != 1:
            raise QueryError(f"send exactly one of the fields text, tags and image; received "
                             f"{', '.join(given) or 'none'}.", 400)
        if k is not None and not 1 <= k <= MAX_K:
            raise QueryError(f"k: expected 1 to {MAX_K}, received {k}.")
        if radius is not None and not 0 <= radius <= index.bits:
            raise QueryError(f"radius: expected 0 to {index.bits} (the code length), received {radius}.")
        if not 0 <= offset <= MAX_OFFSET:
            raise QueryError(f"offset: expected 0 to {MAX_OFFSET}, received {offset}.")
        query_labels = parse_labels(labels, index) if labels is not None and labels.strip() else None
        pixels = None
        if image is not None:
            data = image.file.read(max_upload_bytes + 1)
            check_picture(data, max_upload_bytes, max_pixels)
            searcher.check_query("image")
            pixels = decode_image(data, searcher.run.config.image_size, "the uploaded picture")
        query = text if text is not None else tags
        if query is not None:
            if not query.strip():
                raise QueryError(f"the {'text' if text is not None else 'tags'} field is empty; type a query.", 400)
            if len(query) > MAX_TEXT_CHARS:
                raise QueryError(f"the query has {len(query)} characters; the limit is {MAX_TEXT_CHARS}.", 413)
        page = k or 10
        if radius is None or k is not None or offset:  # one more than the page says whether there are more
            top = offset + page + 1
        else:
            top = None  # a radius alone: every code within it, as `dcmh-tf search --radius`
        with lock:  # the Searcher marks shares_label: the labels given, else those of a collection text sent as is
            found = searcher.search(image=pixels, text=text, tags=tags, top=top, radius=radius,
                                    labels=None if query_labels is None else [str(name) for name in query_labels],
                                    label=label or None)
        found["has_more"] = top is not None and len(found["results"]) > offset + page
        found["offset"] = offset
        found["results"] = found["results"][offset:offset + page] if top is not None else found["results"]
        marks = [hit["shares_label"] for hit in found["results"] if "shares_label" in hit]
        found["precision"] = sum(marks) / len(marks) if marks else None
        for hit in found["results"]:
            hit.pop("image_path", None)  # the server's file paths stay on the server: image_url serves the file
            if index.modality == "image" or files.image_path(hit["id"]) is not None:
                hit["image_url"] = f"/items/{hit['id']}/image" if files.image_path(hit["id"]) else None
            hit["text_url"] = f"/items/{hit['id']}/text" if files.text(hit["id"]) is not None else None
            hit["text"] = files.text(hit["id"])
        return found

    @app.get("/items/{item_id}/image")
    def item_image(item_id: int):
        path = files.image_path(item_id)
        if path is None:
            raise HTTPException(404, f"no picture for item {item_id}.")
        return FileResponse(path, media_type=_media_type(path))

    @app.get("/items/{item_id}/text", response_class=PlainTextResponse)
    def item_text(item_id: int):
        text = files.text(item_id)
        if text is None:
            raise HTTPException(404, f"no text for item {item_id}.")
        return PlainTextResponse(text, media_type="text/plain; charset=utf-8")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page():
        return HTMLResponse(PAGE.read_text(encoding="utf-8"))

    return app


def _media_type(path: Path) -> str:
    from PIL import Image

    try:
        with Image.open(path) as image:
            return Image.MIME.get(image.format, "application/octet-stream")
    except OSError:
        return "application/octet-stream"
