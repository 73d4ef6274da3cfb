"""Reading a dose SR file front to back in a bounded window: the header, then one content item at a time.

:mod:`.projection_file` reads the whole file into memory and parses the whole content tree before the
reader sees its first event: about 2.3 MiB of peak memory per MiB of report. Here the file is read in
chunks of :data:`CHUNK` bytes; the top-level elements before the Content Sequence are kept (as
``RawDataElement``, as there), and the Content Sequence's items (the root's children: one per
irradiation event, plus the accumulated containers and the context) are parsed and handed out one at a
time, so the memory a read needs is one chunk and one item, whatever the report's size.

The item parser is the content-tree parser of :mod:`.content_items`, run on the window. An item of
undefined length that does not parse is retried with more of the file in the window; only at the end of
the file is it damage. A parse that succeeds on a window is the parse of the whole file: it found the
item's delimiter and read nothing past it.

What the reader of the whole file does is kept for every case but one, which is left to it:

* data ending inside the Content Sequence (or a damaged item in a Content Sequence of undefined length):
  the sound leading items, and :attr:`ContentStream.truncated` set, as :mod:`.projection_file` gives;
* anything it hands to pydicom (damage outside the content tree, an undefined-length element that is not
  a sequence, a damaged item in a Content Sequence of defined length, which pydicom then tries, a
  Content Sequence whose VR is neither SQ nor implicit) raises :class:`StreamLayoutError`, and the
  caller reads the file the other way.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import BaseTag

from resources.dose.errors import DoseError
from resources.dose.rdsr.content_items import (
    CONTENT_SEQUENCE,
    ContentTreeFormatError,
    Item,
    parse_item,
    parse_sequence,
)
from resources.dose.rdsr.projection_file import may_be_sequence, transfer_syntax_of

CHUNK = 1 << 18  # 256 KiB: a few dozen events of a fluoroscopy report per read
_FIRST_READ = 1 << 13  # the file meta group is read whole from the first read (a few hundred bytes)
_AHEAD = 1 << 15  # kept in the window before an item of undefined length is parsed: most fit, few retry
_IMPLICIT_LE = "1.2.840.10008.1.2"
_EXPLICIT_LE = "1.2.840.10008.1.2.1"
_UNDEFINED = 0xFFFFFFFF
_ITEM = 0xFFFEE000
_SEQUENCE_END = 0xFFFEE0DD
_LONG_VRS = frozenset(
    {b"OB", b"OW", b"OF", b"SQ", b"UT", b"UN", b"UC", b"UR", b"OD", b"OL", b"OV", b"SV", b"UV"}
)
_HEADER_IMPLICIT = struct.Struct("<HHI").unpack_from
_HEADER_EXPLICIT = struct.Struct("<HH2sH").unpack_from
_U32 = struct.Struct("<I").unpack_from
_PARSE_ERRORS = (ContentTreeFormatError, struct.error)


class StreamLayoutError(DoseError):
    """The file's layout is one the stream leaves to the whole-file reader (it says why)."""


class ContentStream:
    """A little-endian dose SR read front to back: :meth:`header`, then :meth:`items`, then the rest.

    Use it as a context manager (it holds the file open) or call :meth:`close`.
    """

    def __init__(self, handle: BinaryIO, implicit: bool, buf: bytes, pos: int) -> None:
        self._handle = handle
        self._implicit = implicit
        self._buf = buf
        self._pos = pos
        self._offset = 0  # file offset of self._buf[0]
        self._eof = False
        self._elements: dict[BaseTag, DataElement | RawDataElement] = {}
        self._has_content = False  # a Content Sequence was found (the position is then at its value)
        self._content_length: int | None = None  # its value length; None: undefined
        self._state = "new"  # new -> header -> items (in content) -> after (top level after it) -> done
        self.truncated = False  # the data ended inside the Content Sequence (or it was damaged there)

    @classmethod
    def open(cls, path: str | Path) -> ContentStream | None:
        """The stream, or None when the file is not little-endian DICOM with a preamble.

        Raises
        ------
        OSError
            When the file cannot be read.
        """
        handle = Path(path).open("rb")  # noqa: SIM115 -- held open by the stream, closed by close()
        try:
            first = max(CHUNK, _FIRST_READ)
            head = handle.read(first)
            syntax, pos = transfer_syntax_of(head)
            while pos + 8 > len(head) and (more := handle.read(first)):
                head += more  # the meta group ran past the first read (the dataset must start whole)
                syntax, pos = transfer_syntax_of(head)
            if syntax not in (_IMPLICIT_LE, _EXPLICIT_LE):
                handle.close()
                return None
        except BaseException:
            handle.close()
            raise
        stream = cls(handle, syntax == _IMPLICIT_LE, head, pos)
        stream._eof = len(head) % first != 0
        return stream

    def __enter__(self) -> ContentStream:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._handle.close()

    @property
    def dataset(self) -> Dataset:
        """The top-level elements read so far, the Content Sequence left out (its items are streamed)."""
        return Dataset(self._elements)

    def header(self) -> Dataset:
        """The top-level elements before the Content Sequence (all of them when there is none).

        Raises
        ------
        StreamLayoutError
            When the elements before the Content Sequence cannot be walked.
        """
        if self._state == "new":
            self._walk_top_level()
            self._state = "header"
        return self.dataset

    def items(self) -> Iterator[Item]:
        """The Content Sequence's items in order; then the top-level elements after it are read.

        Raises
        ------
        StreamLayoutError
            See the module docstring; items handed out before it are sound.
        """
        self.header()
        if self._state != "header":
            return
        self._state = "items"
        if self._has_content:
            yield from self._content_items(self._content_length)
            self._state = "after"
            if not self.truncated:
                self._walk_top_level()
        self._state = "done"

    @property
    def in_content(self) -> bool:
        """Whether reading is inside the Content Sequence (where damage means a partial report)."""
        return self._state == "items"

    # The window -----------------------------------------------------------------------------------

    def _fill(self, need: int) -> bool:
        """Make ``need`` bytes from the current position available; False when the file has fewer."""
        available = len(self._buf) - self._pos
        if available >= need:
            return True
        if self._eof:
            return False
        parts = [self._buf[self._pos :]]
        while available < need and not self._eof:
            more = self._handle.read(max(need - available, CHUNK))
            self._eof = not more
            parts.append(more)
            available += len(more)
        self._offset += self._pos
        self._buf, self._pos = b"".join(parts), 0
        return available >= need

    # Top level --------------------------------------------------------------------------------------

    def _walk_top_level(self) -> None:
        """Keep top-level elements until the Content Sequence (its extent noted) or the end of the data."""
        implicit = self._implicit
        while self._fill(8):
            buf, pos = self._buf, self._pos
            if implicit:
                group, element, length = _HEADER_IMPLICIT(buf, pos)
                vr, head = None, 8
            else:
                group, element, vr_bytes, length = _HEADER_EXPLICIT(buf, pos)
                vr = vr_bytes.decode("ascii", errors="replace")
                head = 8
                if vr_bytes in _LONG_VRS:
                    if not self._fill(12):
                        raise StreamLayoutError("data ends inside an element header")
                    buf, pos = self._buf, self._pos
                    length, head = _U32(buf, pos + 8)[0], 12
            tag = group << 16 | element
            if tag == CONTENT_SEQUENCE and self._state == "new":
                if vr not in (None, "SQ"):
                    raise StreamLayoutError(f"Content Sequence with VR {vr}")
                self._pos += head
                self._has_content = True
                self._content_length = None if length == _UNDEFINED else length
                return
            if length != _UNDEFINED:
                # A value cut short by the end of the file is kept as far as it goes (as the whole-file
                # reader keeps it): only the Content Sequence's truncation changes the result.
                self._fill(head + length)
                start = self._pos + head
                value = self._buf[start : start + length]
                tell = self._offset + start
                self._pos = start + len(value)
            elif vr in ("SQ", "UN", None) and may_be_sequence(tag, vr):
                tell, value = self._undefined_length_sequence(head)
            else:
                raise StreamLayoutError(f"({group:04X},{element:04X}) of undefined length is not a sequence")
            elements_tag = BaseTag(tag)
            self._elements[elements_tag] = RawDataElement(
                elements_tag, vr, length, value, tell, implicit, True, True, False
            )

    def _undefined_length_sequence(self, head: int) -> tuple[int, bytes]:
        """File offset and bytes of a top-level sequence of undefined length (its delimiter included)."""
        self._fill(head + _AHEAD)
        while True:
            start = self._pos + head
            try:
                end = parse_sequence(self._buf, start, None, self._implicit)[1]
            except _PARSE_ERRORS as exc:
                if not self._more():
                    raise StreamLayoutError(f"damaged sequence outside the content tree: {exc}") from exc
                continue
            value = self._buf[start:end]
            self._pos = end
            return self._offset + start, value

    def _more(self) -> bool:
        """Extend the window by a chunk; False when the whole rest of the file is in it already."""
        if self._eof:
            return False
        self._fill(len(self._buf) - self._pos + CHUNK)
        return True

    # The Content Sequence ---------------------------------------------------------------------------

    def _content_items(self, length: int | None) -> Iterator[Item]:
        """The items of the Content Sequence of value ``length`` (None: undefined), from its value's start.

        The window moves as items are read, so a defined length is counted down as bytes left.
        """
        left = length
        defined = left is not None
        while left is None or left >= 8:
            if not self._fill(8):
                self.truncated = True
                return
            before = self._offset + self._pos
            group, element, length = _HEADER_IMPLICIT(self._buf, self._pos)
            tag = group << 16 | element
            if tag == _SEQUENCE_END and not defined:
                self._pos += 8
                return
            if tag != _ITEM:
                self._damaged(defined, f"expected a sequence item, found ({group:04X},{element:04X})")
                return
            self._pos += 8
            item = self._item(length, defined)
            if item is None:
                return
            if left is not None:
                left -= self._offset + self._pos - before  # in file offsets: the window may have moved
            yield item
        if left is not None and left != 0:
            if left < 0:
                raise StreamLayoutError("an item runs past the end of the Content Sequence")
            self._fill(left)  # fewer than 8 bytes after the last item: skipped, as parse_sequence does
            self._pos += left

    def _item(self, length: int, defined: bool) -> Item | None:
        """One item after its header, or None when it is cut short or damaged (then flagged)."""
        implicit = self._implicit
        if length != _UNDEFINED:
            if not self._fill(length):
                self.truncated = True
                return None
            try:
                item = parse_item(self._buf, self._pos, self._pos + length, implicit)[0]
            except _PARSE_ERRORS as exc:
                self._damaged(defined, f"damaged item: {exc}")
                return None
            self._pos += length
            return item
        self._fill(_AHEAD)
        while True:
            try:
                item, self._pos = parse_item(self._buf, self._pos, None, implicit)
                return item
            except _PARSE_ERRORS:
                if not self._more():
                    self.truncated = True  # cut short, or damaged with nothing after it to tell
                    return None

    def _damaged(self, defined: bool, reason: str) -> None:
        if defined:
            raise StreamLayoutError(f"Content Sequence of defined length: {reason}")
        self.truncated = True
