"""Multipart uploads streamed straight to disk, capped and sniffed while they arrive.

Starlette's ``request.form()`` spools a whole file before the endpoint runs; dubbing inputs
are large, so this parser writes the file part to the studio's temp folder chunk by chunk,
stops at the size cap, refuses content that is not media after its first bytes, and never
uses the client's file name on disk. The text fields beside the file are bounded too: their
number, each one's size and each part's headers.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from python_multipart import MultipartParser
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import parse_options_header
from starlette.requests import Request

from dubbing_studio.config import LimitSettings
from dubbing_studio.domain.errors import InvalidInput, UnsupportedMedia, UploadTooLarge
from dubbing_studio.media import SNIFF_BYTES

MAX_PART_HEADER_BYTES = 16 * 1024  # a part's headers are a name and a file name


@dataclass(frozen=True)
class FormLimits:
    """Bounds on the non-file fields of one form."""

    max_fields: int
    max_field_bytes: int
    # Fields that carry small text files (subtitles), with their own, larger bound.
    text_files: frozenset[str] = frozenset()
    max_text_file_bytes: int = 0

    @classmethod
    def from_settings(
        cls, limits: LimitSettings, text_files: frozenset[str] = frozenset()
    ) -> FormLimits:
        return cls(
            limits.max_form_fields,
            limits.max_form_field_kb * 1024,
            text_files,
            limits.max_subtitle_kb * 1024,
        )

    def field_bytes(self, name: str | None) -> int:
        return self.max_text_file_bytes if name in self.text_files else self.max_field_bytes

    def max_overhead(self) -> int:
        """The most a valid form may add to its file: every field at its largest, plus
        headers."""
        return (
            self.max_fields * self.max_field_bytes
            + len(self.text_files) * self.max_text_file_bytes
            + (self.max_fields + 1) * MAX_PART_HEADER_BYTES
        )


@dataclass
class Upload:
    """A received file on disk plus the form's text fields. Remove with ``discard``."""

    path: Path
    filename: str
    size: int
    kind: str
    fields: dict[str, list[str]] = field(default_factory=dict)

    def field(self, name: str) -> str | None:
        values = self.fields.get(name)
        return values[-1] if values else None

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


@dataclass
class _ReceivedFile:
    path: Path
    filename: str
    size: int = 0
    kind: str = ""


class _FormReceiver:
    """Callbacks for python-multipart: routes each part to a field buffer or a file (at most
    ``max_files`` of them in ``file_field``, each under ``max_bytes``)."""

    def __init__(
        self,
        file_field: str,
        temp_dir: Path,
        max_bytes: int,
        sniff: Callable[[bytes], str | None],
        limits: FormLimits,
        max_files: int = 1,
    ) -> None:
        self.file_field = file_field
        self.limits = limits
        self.field_count = 0
        self.temp_dir = temp_dir
        self.max_bytes = max_bytes
        self.max_files = max_files
        self.sniff = sniff
        self.fields: dict[str, list[str]] = {}
        self.files: list[_ReceivedFile] = []
        self._file: IO[bytes] | None = None
        self._head = bytearray()
        self._headers: dict[bytes, bytes] = {}
        self._header_name = b""
        self._header_value = b""
        self._header_bytes = 0
        self._part_name: str | None = None
        self._is_file = False
        self._value = bytearray()

    # python-multipart callbacks -------------------------------------------------------
    def on_part_begin(self) -> None:
        self._headers = {}
        self._header_bytes = 0
        self._part_name = None
        self._is_file = False
        self._value = bytearray()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._count_header_bytes(end - start)
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._count_header_bytes(end - start)
        self._header_value += data[start:end]

    def _count_header_bytes(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > MAX_PART_HEADER_BYTES:
            raise InvalidInput("A part of the multipart/form-data body has oversized headers.")

    def on_header_end(self) -> None:
        self._headers[self._header_name.lower()] = self._header_value
        self._header_name = b""
        self._header_value = b""

    def on_headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = params.get(b"name", b"").decode("utf-8", "replace")
        self._part_name = name
        if name == self.file_field and b"filename" in params:
            if len(self.files) >= self.max_files:
                raise InvalidInput(
                    f"Send one file in the {self.file_field!r} field, not several."
                    if self.max_files == 1
                    else f"Send at most {self.max_files} files in the {self.file_field!r} field."
                )
            self.close()
            self._is_file = True
            self.temp_dir.mkdir(parents=True, exist_ok=True)
            path = self.temp_dir / f"upload-{uuid.uuid4().hex}"
            self._file = path.open("xb")
            self.files.append(_ReceivedFile(path, params[b"filename"].decode("utf-8", "replace")))
            return
        self.field_count += 1
        if self.field_count > self.limits.max_fields:
            raise InvalidInput(
                f"Too many form fields: at most {self.limits.max_fields} besides the file."
            )

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if not self._is_file:
            self._value += chunk
            if len(self._value) > self.limits.field_bytes(self._part_name):
                raise UploadTooLarge(
                    f"Form field {self._part_name!r} is larger than the "
                    f"{self.limits.field_bytes(self._part_name) // 1024} KB limit."
                )
            return
        received = self.files[-1]
        received.size += len(chunk)
        if received.size > self.max_bytes:
            raise UploadTooLarge(
                f"The upload is larger than the {self.max_bytes // (1024 * 1024)} MB limit."
            )
        if not received.kind:
            self._head += chunk
            if len(self._head) >= SNIFF_BYTES:
                self._sniff()
        assert self._file is not None
        self._file.write(chunk)

    def on_part_end(self) -> None:
        if self._is_file:
            if not self.files[-1].kind:
                self._sniff()
        elif self._part_name:
            self.fields.setdefault(self._part_name, []).append(
                self._value.decode("utf-8", "replace")
            )

    # ----------------------------------------------------------------------------------
    def _sniff(self) -> None:
        received = self.files[-1]
        if not self._head:
            raise InvalidInput(f"{received.filename or 'The uploaded file'} is empty.")
        kind = self.sniff(bytes(self._head))
        if kind is None:
            raise UnsupportedMedia(
                f"{received.filename or 'The upload'} is not an audio or video file "
                "(its content matches no supported container)."
            )
        received.kind = kind
        self._head = bytearray()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def discard(self) -> None:
        self.close()
        for received in self.files:
            received.path.unlink(missing_ok=True)

    def callbacks(self) -> dict[str, Callable[..., None]]:
        return {
            name: getattr(self, name)
            for name in (
                "on_part_begin",
                "on_header_field",
                "on_header_value",
                "on_header_end",
                "on_headers_finished",
                "on_part_data",
                "on_part_end",
            )
        }


async def receive_upload(
    request: Request,
    *,
    temp_dir: Path,
    max_bytes: int,
    sniff: Callable[[bytes], str | None],
    file_field: str = "file",
    form_limits: FormLimits | None = None,
) -> Upload:
    """Stream a multipart request's ``file_field`` to ``temp_dir``; the caller discards it.

    On any error the partial file is removed before the error propagates. ``form_limits``
    defaults to the settings' defaults.
    """
    form = await receive_form(
        request,
        temp_dir=temp_dir,
        max_bytes=max_bytes,
        sniff=sniff,
        file_field=file_field,
        form_limits=form_limits,
    )
    if form.upload is None:
        raise InvalidInput(f"No file was sent in the {file_field!r} form field.")
    return form.upload


@dataclass
class Form:
    """A form whose files are optional (another field may say where the media is)."""

    fields: dict[str, list[str]]
    uploads: list[Upload]

    @property
    def upload(self) -> Upload | None:
        return self.uploads[0] if self.uploads else None

    def field(self, name: str) -> str | None:
        values = self.fields.get(name)
        return values[-1] if values else None

    def discard(self) -> None:
        for upload in self.uploads:
            upload.discard()


async def receive_form(
    request: Request,
    *,
    temp_dir: Path,
    max_bytes: int,
    sniff: Callable[[bytes], str | None],
    file_field: str = "file",
    form_limits: FormLimits | None = None,
    max_files: int = 1,
) -> Form:
    """The form's fields and up to ``max_files`` files in ``file_field``, none required."""
    limits = form_limits or FormLimits.from_settings(LimitSettings())
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data" or b"boundary" not in params:
        raise InvalidInput(f"Send the file as multipart/form-data with a {file_field!r} field.")
    declared = request.headers.get("content-length")
    if (
        declared
        and declared.isascii()
        and declared.isdigit()
        and int(declared) > max_files * max_bytes + limits.max_overhead()
    ):
        raise UploadTooLarge(
            f"The upload is larger than the {max_bytes // (1024 * 1024)} MB limit."
        )
    receiver = _FormReceiver(file_field, temp_dir, max_bytes, sniff, limits, max_files)
    parser = MultipartParser(params[b"boundary"], receiver.callbacks())  # type: ignore[arg-type]
    try:
        try:
            async for chunk in _body(request):
                parser.write(chunk)
            parser.finalize()
        except MultipartParseError as exc:
            raise InvalidInput("The multipart/form-data body is malformed.") from exc
    except BaseException:
        receiver.discard()
        raise
    receiver.close()
    return Form(
        receiver.fields,
        [
            Upload(
                path=received.path,
                filename=os.path.basename(received.filename),
                size=received.size,
                kind=received.kind,
                fields=receiver.fields,
            )
            for received in receiver.files
        ],
    )


async def _body(request: Request) -> AsyncIterator[bytes]:
    async for chunk in request.stream():
        if chunk:
            yield chunk


@contextlib.asynccontextmanager
async def upload_from(
    request: Request,
    *,
    temp_dir: Path,
    max_bytes: int,
    sniff: Callable[[bytes], str | None],
    file_field: str = "file",
    form_limits: FormLimits | None = None,
) -> AsyncIterator[Upload]:
    """``async with upload_from(request, ...) as upload:`` — the file is always removed."""
    upload = await receive_upload(
        request,
        temp_dir=temp_dir,
        max_bytes=max_bytes,
        sniff=sniff,
        file_field=file_field,
        form_limits=form_limits,
    )
    try:
        yield upload
    finally:
        upload.discard()


@contextlib.asynccontextmanager
async def form_from(
    request: Request,
    *,
    temp_dir: Path,
    max_bytes: int,
    sniff: Callable[[bytes], str | None],
    form_limits: FormLimits | None = None,
) -> AsyncIterator[Form]:
    """``upload_from`` with the file optional; a file sent is always removed."""
    form = await receive_form(
        request, temp_dir=temp_dir, max_bytes=max_bytes, sniff=sniff, form_limits=form_limits
    )
    try:
        yield form
    finally:
        form.discard()
