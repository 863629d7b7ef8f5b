"""The files contract: uploads streamed into a session's /mnt/data, listings streamed out of it, file contents
read off the event loop; the legacy routes (2024-02-02-preview, 2024-08-02-preview) and the later ones."""

import dataclasses
import itertools
import json
from collections.abc import Iterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from dynamic_sessions.emulator.api import contract
from dynamic_sessions.emulator.api.bodies import receive_upload
from dynamic_sessions.emulator.api.contract import BadRequest, JSONResponse
from dynamic_sessions.emulator.api.state import EmulatorState
from dynamic_sessions.emulator.sandbox.files import FileInfo, FileRefused, SessionFiles, read_chunks

# Entries of a files listing per streamed chunk: each chunk is one hop to a worker thread.
LISTED_PER_CHUNK = 1000


async def _session_files(request: Request, state: EmulatorState, versions: tuple[str, ...], route: str) -> SessionFiles:
    contract.api_version(request.query_params, versions, route)
    session = await state.pool.session_for(contract.identifier(request.query_params))
    try:
        folder = SessionFiles(session.data_dir, session.copier())
    except OSError:
        raise BadRequest(404, "NotFound", "This session's /mnt/data is gone; the session has ended.") from None
    path = request.query_params.get("path")
    if path:
        try:
            folder.descend(path)
        except FileRefused:
            folder.close()
            raise
    return folder


def _file_entry(info: FileInfo, legacy: bool) -> dict[str, Any]:
    if legacy:
        return {
            "properties": {
                "filename": info.name,
                "size": info.size,
                "lastModifiedTime": contract.timestamp(info.modified),
            }
        }
    return {
        "name": info.name,
        "type": info.kind,
        "contentType": "application/octet-stream",
        "sizeInBytes": info.size,
        "lastModifiedAt": contract.timestamp(info.modified),
        "directory": info.folder,
    }


def _content(folder: SessionFiles, name: str) -> Response:
    fd, info = folder.open_for_reading(name)
    # A synchronous iterator: Starlette reads it in a worker thread, off the event loop.
    return StreamingResponse(
        read_chunks(fd, info.size),
        media_type="application/octet-stream",
        headers={"Content-Length": str(info.size)},
    )


async def legacy_upload(request: Request, state: EmulatorState) -> Response:
    with await _session_files(request, state, contract.LEGACY_VERSIONS, "files/upload") as folder:
        stored = await receive_upload(request, folder)
    return JSONResponse({"value": [_file_entry(stored, legacy=True)]})


def _listing(folder: SessionFiles, legacy: bool, folders: bool = False, recursive: bool = False) -> Response:
    """The folder's listing, streamed: a session can hold hundreds of thousands of files within its own
    memory cap, and their listing must cost the emulator neither that much memory nor a stalled event loop.
    `folders`: folders listed too (Shell pools); `recursive`: what is below them too (`recursive=true`)."""
    # A synchronous iterator: Starlette reads it in a worker thread, off the event loop.
    return StreamingResponse(_listing_chunks(folder, legacy, folders, recursive), media_type="application/json")


def _listing_chunks(
    folder: SessionFiles, legacy: bool, folders: bool = False, recursive: bool = False
) -> Iterator[bytes]:
    with folder:
        listed = folder.entries(folders, recursive)
        entries = (json.dumps(_file_entry(info, legacy), ensure_ascii=False) for info in listed)
        separator = ""
        yield b'{"value":['
        while batch := list(itertools.islice(entries, LISTED_PER_CHUNK)):
            yield (separator + ",".join(batch)).encode()
            separator = ","
        yield b"]}"


async def legacy_list(request: Request, state: EmulatorState) -> Response:
    return _listing(await _session_files(request, state, contract.LEGACY_VERSIONS, "files"), legacy=True)


async def legacy_content(request: Request, state: EmulatorState) -> Response:
    with await _session_files(request, state, contract.LEGACY_VERSIONS, "files/content/{name}") as folder:
        return _content(folder, request.path_params["name"])


async def files(request: Request, state: EmulatorState) -> Response:
    if request.method == "GET" and request.query_params.get("api-version") in contract.LEGACY_VERSIONS:
        return await legacy_list(request, state)
    folder = await _session_files(request, state, contract.EXECUTIONS_VERSIONS, "files")
    if request.method != "POST":
        recursive = request.query_params.get("recursive", "").lower() == "true"
        return _listing(folder, False, folders=state.shell_pool, recursive=recursive)
    with folder:
        stored = dataclasses.replace(await receive_upload(request, folder), folder=folder.where)
        return JSONResponse(_file_entry(stored, legacy=False))


async def file_item(request: Request, state: EmulatorState) -> Response:
    with await _session_files(request, state, contract.EXECUTIONS_VERSIONS, "files/{name}") as folder:
        name = request.path_params["name"]
        if request.method == "DELETE":
            folder.delete(name)
            return Response(status_code=204)
        return JSONResponse(_file_entry(folder.info(name), legacy=False))


async def file_content(request: Request, state: EmulatorState) -> Response:
    with await _session_files(request, state, contract.EXECUTIONS_VERSIONS, "files/{name}/content") as folder:
        return _content(folder, request.path_params["name"])
