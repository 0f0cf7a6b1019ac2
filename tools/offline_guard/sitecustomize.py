"""Refuse network access beyond loopback in every process (fallback of tools/offline).

Loaded automatically because tools/offline puts this folder on PYTHONPATH when
it cannot create a network namespace. Active only with MLOPS_COURSE_OFFLINE_GUARD=1.
"""

import ipaddress
import os
import socket

if os.environ.get("MLOPS_COURSE_OFFLINE_GUARD") == "1":
    _LOCAL_NAMES = {"localhost", "127.0.0.1", "::1", "", None}
    _connect = socket.socket.connect
    _connect_ex = socket.socket.connect_ex
    _getaddrinfo = socket.getaddrinfo

    def _is_local(address) -> bool:
        if not isinstance(address, tuple):
            return True  # AF_UNIX paths and the like
        host = address[0]
        if host in _LOCAL_NAMES:
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    def _guard(address):
        if not _is_local(address):
            raise OSError(
                101, f"Network is unreachable (offline course run): {address!r}"
            )

    def connect(self, address):
        _guard(address)
        return _connect(self, address)

    def connect_ex(self, address):
        _guard(address)
        return _connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):
        if host not in _LOCAL_NAMES and not _is_local((host,)):
            raise socket.gaierror(
                -3, f"Temporary failure in name resolution (offline): {host}"
            )
        return _getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect
    socket.socket.connect_ex = connect_ex
    socket.getaddrinfo = getaddrinfo
