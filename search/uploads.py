"""Request bodies with uploads: refused at once when declared too large, read in memory only, capped.

Two pieces, both site-wide, so they are in place before anything reads a body:

- ``search.middleware.UploadLimitMiddleware`` answers 413 from the declared Content-Length alone, before a byte of the
  body is read: JSON under /api/, the search page with the reason for people (its results fragment
  for htmx).
- ``MemoryOnlyUploadHandler`` is the only upload handler (``FILE_UPLOAD_HANDLERS``): files stay in
  memory, never in a temporary file, and reading stops once the request's files pass
  IMAGE_MAX_BYTES, whatever the body declared.

Why site-wide rather than per view: CsrfViewMiddleware reads ``request.POST`` before any view runs,
so a view that swaps ``request.upload_handlers`` is too late (Django raises once the body is parsed).
Django's documented way round is a ``csrf_exempt`` outer view that sets the handlers and a
``csrf_protect`` inner one (https://docs.djangoproject.com/en/5.2/topics/http/file-uploads/#modifying-upload-handlers-on-the-fly);
it holds only for the views that remember to do it. The site's one kind of upload is an image to
search with, so every request gets the same small, memory-only limits, and no view can forget them.
"""

from __future__ import annotations

import io
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import InMemoryUploadedFile
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import HttpRequest
from django.utils.translation import gettext as _

_REFUSAL = "upload_refused"


def too_large_message(limit: int) -> str:
    shown = f"{limit / (1024 * 1024):.0f} MB" if limit >= 1024 * 1024 else f"{limit / 1024:.0f} KB"
    return _("image is over %(limit)s bytes (%(shown)s): choose a smaller image") % {"limit": limit, "shown": shown}


def body_limit(content_type: str | None) -> int:
    """The largest body a request of this content type may declare: the form fields
    (DATA_UPLOAD_MAX_MEMORY_SIZE), and for a multipart body the files as well (IMAGE_MAX_BYTES)."""
    fields: int = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return fields + settings.IMAGE_MAX_BYTES if content_type == "multipart/form-data" else fields


def upload_problem(request: HttpRequest) -> str:
    """Why the request's upload was refused or cut short, or ''."""
    return str(getattr(request, _REFUSAL, ""))


class MemoryOnlyUploadHandler(FileUploadHandler):
    """Keeps uploads in memory and stops reading once the request's files pass IMAGE_MAX_BYTES.

    The count runs over every file of the request together, so many small files cannot add up to
    more; the file that crosses the limit is dropped and the request says why (``upload_problem``).
    """

    def __init__(self, request: HttpRequest | None = None) -> None:
        super().__init__(request)
        self.limit: int = settings.IMAGE_MAX_BYTES
        self.received = 0
        self.buffer = io.BytesIO()

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self.buffer = io.BytesIO()

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        self.received += len(raw_data)
        if self.received > self.limit:
            self.buffer = io.BytesIO()
            if self.request is not None:
                setattr(self.request, _REFUSAL, too_large_message(self.limit))
            # Not a connection reset: Django reads what is left of the body (which the middleware
            # has bounded by its declared length), so the client gets the answer, not a reset.
            raise StopUpload(connection_reset=False)
        self.buffer.write(raw_data)

    def file_complete(self, file_size: int) -> InMemoryUploadedFile:
        self.buffer.seek(0)
        return InMemoryUploadedFile(
            file=self.buffer,
            field_name=self.field_name,
            name=self.file_name,
            content_type=self.content_type,
            size=file_size,
            charset=self.charset,
            content_type_extra=self.content_type_extra,
        )
