"""Media fetched from a URL: direct media links, and pages yt-dlp knows (no playlists).

Fetching on a client's behalf must not become a way into the studio's own network (SSRF):
only http(s); every host, on the first request and on every redirect, is resolved here and
refused when any of its addresses is loopback, private, link-local, multicast, reserved or a
cloud metadata address, unless the operator's allow-list names the host or the network. The
connection then goes to the address that was checked (the URL's host stays in the Host header
and TLS server name), so a second DNS answer cannot point it elsewhere. yt-dlp's own requests
while it reads a page go through the same checked client. The download is capped in bytes
and, from its header, in duration while it arrives, sniffed like an upload, and kept in a
temp folder that is always removed.
"""

from __future__ import annotations

import contextlib
import io
import ipaddress
import re
import shutil
import socket
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urljoin

import httpx

from dubbing_studio import media
from dubbing_studio.config import Settings
from dubbing_studio.domain.errors import (
    InvalidInput,
    StudioError,
    UndecodableMedia,
    UnsupportedMedia,
    UploadTooLarge,
)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
CHUNK_BYTES = 64 * 1024
PROBE_AFTER_BYTES = 1 << 20  # the header has arrived: check the duration it declares
MAX_PAGE_BYTES = 16 << 20  # a page yt-dlp reads is held in memory
_REDIRECTS = (301, 302, 303, 307, 308)


class UrlRefused(StudioError):
    """A URL the studio will not fetch: its scheme, its address or a playlist (HTTP 422)."""

    status_code = 422
    error_code = "url_refused"


class UrlFetchFailed(StudioError):
    """The URL could not be fetched or holds no media (HTTP 422)."""

    status_code = 422
    error_code = "url_fetch_failed"


def is_url(text: str) -> bool:
    """Whether a CLI argument names a URL rather than a file (any ``scheme://``)."""
    return re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", text) is not None


def address_kind(address: IPAddress) -> str | None:
    """What makes ``address`` unfit to fetch from, or None for a public address. Addresses
    embedded in IPv6 (IPv4-mapped, NAT64, 6to4, Teredo) are judged by the IPv4 inside."""
    if address in METADATA_ADDRESSES:
        return "cloud metadata"
    if isinstance(address, ipaddress.IPv6Address):
        inner: ipaddress.IPv4Address | None = address.ipv4_mapped or address.sixtofour
        if inner is None and address.teredo:
            inner = address.teredo[1]
        if inner is None and address in _NAT64:
            inner = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if inner is not None and (kind := address_kind(inner)):
            return kind
    for test, kind in (
        ("is_loopback", "loopback"),
        ("is_link_local", "link-local"),
        ("is_multicast", "multicast"),
        ("is_unspecified", "unspecified"),
        ("is_reserved", "reserved"),
        ("is_private", "private"),
    ):
        if getattr(address, test):
            return kind
    return None if address.is_global else "non-public"


class UrlPolicy:
    """Which URLs may be fetched, and the checked address to connect to."""

    def __init__(self, allowed_hosts: Sequence[str], allowed_networks: Sequence[str]) -> None:
        self.allowed_hosts = [h.strip().lower().rstrip(".") for h in allowed_hosts if h.strip()]
        self.allowed_networks = [ipaddress.ip_network(n, strict=False) for n in allowed_networks]

    def parse(self, url: str) -> httpx.URL:
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError, ValueError) as exc:
            raise UrlRefused(f"Not a URL the studio can fetch: {exc}") from None
        if parsed.scheme not in ("http", "https"):
            raise UrlRefused(
                f"Only http and https URLs are fetched, not {parsed.scheme or 'this'}:// ones."
            )
        if not parsed.host:
            raise UrlRefused("The URL names no host.")
        return parsed

    def pin(self, url: str) -> tuple[httpx.URL, str]:
        """``url`` with its host replaced by the checked address, and the host name."""
        parsed = self.parse(url)
        host = parsed.host
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise UrlFetchFailed(f"{host} cannot be resolved: {exc}") from None
        addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))
        for address in addresses:
            kind = None if self._allowed(host, address) else address_kind(address)
            if kind:
                raise UrlRefused(
                    f"{host} resolves to {address}, a {kind} address; the studio does not "
                    "fetch from its own network unless url_fetch.allowed_hosts or "
                    "url_fetch.allowed_networks names it.",
                    errors=[{"loc": ["url"], "msg": f"{kind} address", "type": "url_refused"}],
                )
        return parsed.copy_with(host=str(addresses[0])), host

    def _allowed(self, host: str, address: IPAddress) -> bool:
        name = host.lower().rstrip(".")
        for allowed in self.allowed_hosts:
            if name == allowed or (allowed.startswith("*.") and name.endswith(allowed[1:])):
                return True
        return any(address in network for network in self.allowed_networks)


class CheckedHttp:
    """An HTTP client that checks every hop against the policy and connects to the checked
    address (no proxies from the environment, redirects followed here)."""

    def __init__(self, policy: UrlPolicy, timeout_s: float, max_redirects: int) -> None:
        self.policy = policy
        self.max_redirects = max_redirects
        self.client = httpx.Client(trust_env=False, timeout=timeout_s, follow_redirects=False)

    @contextlib.contextmanager
    def open(
        self,
        url: str,
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        data: bytes | None = None,
    ) -> Iterator[tuple[str, httpx.Response]]:
        """The final URL and its streamed response, after checked redirects."""
        for _ in range(self.max_redirects + 1):
            pinned, host = self.policy.pin(url)
            request = self.client.build_request(
                method,
                pinned,
                headers={**(headers or {}), "Host": _host_header(httpx.URL(url))},
                content=data,
                extensions={"sni_hostname": host} if pinned.scheme == "https" else {},
            )
            try:
                response = self.client.send(request, stream=True)
            except httpx.HTTPError as exc:
                raise UrlFetchFailed(f"Fetching {host} failed: {exc}") from None
            try:
                location = response.headers.get("location")
                if response.status_code in _REDIRECTS and location:
                    url = urljoin(url, location)
                    if response.status_code == 303 or (
                        response.status_code in (301, 302) and method == "POST"
                    ):
                        method, data = "GET", None
                    continue
                yield url, response
                return
            finally:
                response.close()
        raise UrlRefused(f"More than {self.max_redirects} redirects.")

    def close(self) -> None:
        self.client.close()


def _host_header(url: httpx.URL) -> str:
    host = f"[{url.host}]" if ":" in url.host else url.host
    return f"{host}:{url.port}" if url.port else host


@dataclass(frozen=True, slots=True)
class Fetched:
    path: Path  # inside a temp folder that ``UrlFetcher.fetch`` removes
    name: str  # for people: the URL's file name or the page's title
    kind: str  # the sniffed container


class _NotMedia(Exception):
    """The first URL answered with a page: hand it to yt-dlp."""


class UrlFetcher:
    def __init__(self, settings: Settings, media_sandbox: media.Sandbox | None = None) -> None:
        """``media_sandbox``: where the download's header is probed; default a new Python."""
        options = settings.url_fetch
        self.policy = UrlPolicy(options.allowed_hosts, [str(n) for n in options.allowed_networks])
        self.timeout_s = options.timeout_s
        self.max_download_s = options.max_download_s
        self.max_redirects = options.max_redirects
        self.temp_dir = settings.temp_dir
        self.max_bytes = settings.max_upload_bytes
        self.max_duration_s = settings.max_duration_s
        self.media_sandbox = media_sandbox or media.ChildPerCall()

    def new_folder(self) -> Path:
        """A temp folder for one download; whoever asks removes it."""
        folder = self.temp_dir / f"url-{uuid.uuid4().hex}"
        folder.mkdir(parents=True)
        return folder

    @contextlib.contextmanager
    def fetch(self, url: str) -> Iterator[Fetched]:
        """Download ``url``'s media; the temp folder holding it goes when the block ends."""
        folder = self.new_folder()
        try:
            yield self.download(url, folder)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def download(self, url: str, folder: Path) -> Fetched:
        http = CheckedHttp(self.policy, self.timeout_s, self.max_redirects)
        try:
            try:
                with http.open(url) as (final, response):
                    return self._save(response, final, folder, None, page_allowed=True)
            except _NotMedia:
                return self._from_page(http, url, folder)
        finally:
            http.close()

    def _save(
        self,
        response: httpx.Response,
        url: str,
        folder: Path,
        title: str | None,
        *,
        page_allowed: bool,
    ) -> Fetched:
        _check_status(response, url)
        content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if page_allowed and content_type in ("text/html", "application/xhtml+xml"):
            raise _NotMedia
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise self._too_large()
        partial = folder / "download.part"
        try:
            return self._write(response, url, partial, title, page_allowed=page_allowed)
        except BaseException:
            partial.unlink(missing_ok=True)  # a page mistaken for media is read again
            raise

    def _write(
        self,
        response: httpx.Response,
        url: str,
        partial: Path,
        title: str | None,
        *,
        page_allowed: bool,
    ) -> Fetched:
        head, size, kind, probed = bytearray(), 0, "", False
        deadline = time.monotonic() + self.max_download_s
        with partial.open("xb") as out:
            for chunk in response.iter_bytes(CHUNK_BYTES):
                size += len(chunk)
                if size > self.max_bytes:
                    raise self._too_large()
                if time.monotonic() > deadline:
                    raise UrlFetchFailed(
                        f"The download took longer than {self.max_download_s:.0f} s; stopped."
                    )
                out.write(chunk)
                if not kind:
                    head += chunk
                    if len(head) >= media.SNIFF_BYTES:
                        kind = self._sniff(bytes(head), page_allowed)
                if not probed and size >= PROBE_AFTER_BYTES:
                    out.flush()
                    self._check_duration(partial)
                    probed = True
        if not head:
            raise InvalidInput(f"{url} is empty.")
        kind = kind or self._sniff(bytes(head), page_allowed)
        path = partial.with_name(f"{_file_stem(title, url)}.{kind}")
        partial.rename(path)
        return Fetched(path=path, name=title or path.name, kind=kind)

    def _sniff(self, head: bytes, page_allowed: bool) -> str:
        kind = media.sniff(head)
        if kind:
            return kind
        if page_allowed and head.lstrip()[:1] == b"<":
            raise _NotMedia
        raise UnsupportedMedia("The URL's content is not an audio or video file.")

    def _check_duration(self, partial: Path) -> None:
        """The duration cap, from the header of what has arrived (a header not readable yet
        is left to the full probe later)."""
        with contextlib.suppress(UndecodableMedia, InvalidInput, UnsupportedMedia):
            media.probe_untrusted(
                partial, max_duration_s=self.max_duration_s, sandbox=self.media_sandbox
            )

    def _too_large(self) -> UploadTooLarge:
        return UploadTooLarge(
            f"The download is larger than the {self.max_bytes // (1024 * 1024)} MB limit."
        )

    def _from_page(self, http: CheckedHttp, url: str, folder: Path) -> Fetched:
        info = self._extract(http, url)
        if info.get("_type") in ("playlist", "multi_video") or info.get("entries"):
            raise UrlRefused("The URL is a playlist; give the address of one video or track.")
        duration = info.get("duration")
        if isinstance(duration, int | float) and duration > self.max_duration_s:
            raise UploadTooLarge(
                f"The media is {duration:.0f} s long; the limit is {self.max_duration_s:.0f} s."
            )
        media_url, protocol = info.get("url"), info.get("protocol")
        if not isinstance(media_url, str) or protocol not in ("http", "https"):
            raise UrlFetchFailed("The page offers no single media file to download over HTTP.")
        headers = {str(k): str(v) for k, v in (info.get("http_headers") or {}).items()}
        with http.open(media_url, headers=headers) as (final, response):
            return self._save(response, final, folder, info.get("title"), page_allowed=False)

    def _extract(self, http: CheckedHttp, url: str) -> dict[str, Any]:
        from dubbing_studio.services._ytdlp import extract_info  # yt-dlp takes a second to load

        return extract_info(http, url, self.timeout_s)


def _check_status(response: httpx.Response, url: str) -> None:
    if response.status_code >= 400:
        raise UrlFetchFailed(
            f"{httpx.URL(url).host} answered {response.status_code} "
            f"{response.reason_phrase} for the URL."
        )


def _file_stem(title: str | None, url: str) -> str:
    """A safe file stem: the page's title or the URL's file name."""
    raw = title or PurePosixPath(unquote(httpx.URL(url).path)).stem
    stem = re.sub(r"[^\w.-]+", "_", raw).strip("._")[:80]
    return stem or "download"


def read_page(
    http: CheckedHttp, url: str, method: str, headers: Mapping[str, str], data: bytes | None
) -> tuple[str, httpx.Response, bytes]:
    """One request of yt-dlp's, through the checked client; the body is held in memory."""
    with http.open(url, method, headers, data) as (final, response):
        body = io.BytesIO()
        for chunk in response.iter_bytes(CHUNK_BYTES):
            body.write(chunk)
            if body.tell() > MAX_PAGE_BYTES:
                raise UrlFetchFailed(f"{url} is a page larger than {MAX_PAGE_BYTES >> 20} MB.")
        return final, response, body.getvalue()
