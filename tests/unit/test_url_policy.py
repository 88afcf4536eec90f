"""Which addresses a URL fetch refuses, after resolution, and what the allow-list opens."""

from __future__ import annotations

import ipaddress

import pytest

from dubbing_studio.services.url_fetch import UrlPolicy, UrlRefused, address_kind, is_url


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("192.168.0.10", "private"),
        ("172.16.5.4", "private"),
        ("fc00::1", "private"),
        ("169.254.169.254", "cloud metadata"),
        ("fd00:ec2::254", "cloud metadata"),
        ("169.254.10.1", "link-local"),
        ("fe80::1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("100.64.0.1", "non-public"),  # carrier-grade NAT
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
        ("64:ff9b::a00:1", "private"),  # NAT64 of 10.0.0.1
        ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
        ("93.184.215.14", None),
        ("2606:4700::1111", None),
    ],
)
def test_address_kinds(address: str, kind: str | None) -> None:
    assert address_kind(ipaddress.ip_address(address)) == kind


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.com/a.mp3",
        "gopher://127.0.0.1:6379/_INFO",
        "http:///nohost",
        "http://127.0.0.1/a.mp3",
        "http://2130706433/a.mp3",  # 127.0.0.1 as one number
        "http://[::ffff:7f00:1]/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://localhost:8000/",
    ],
)
def test_refused_urls(url: str) -> None:
    with pytest.raises(UrlRefused):
        UrlPolicy([], []).pin(url)


def test_the_allow_list_names_hosts_or_networks() -> None:
    by_name = UrlPolicy(["localhost", "*.internal.test"], [])
    pinned, host = by_name.pin("http://localhost:8000/a.flac")
    assert host == "localhost" and pinned.host == "127.0.0.1" and pinned.port == 8000
    with pytest.raises(UrlRefused):  # the name is allowed, not the address
        by_name.pin("http://127.0.0.1:8000/a.flac")
    by_network = UrlPolicy([], ["127.0.0.0/8"])
    assert by_network.pin("http://127.0.0.1/a.flac")[0].host == "127.0.0.1"
    with pytest.raises(UrlRefused):
        by_network.pin("http://10.0.0.1/")


def test_cli_arguments_that_are_urls() -> None:
    assert is_url("https://example.com/a.mp4") and is_url("file:///x")
    assert not is_url("talk.mp4") and not is_url("C:/talk.mp4")
