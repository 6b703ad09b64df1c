"""The WHIP/WHEP HTTP exchange the Python peers in this directory share."""
import urllib.error
import urllib.request


def http(method, url, body=None, token=None, ctype=None):
    """One request; returns (status, headers, body). An HTTP error status
    is an answer, returned like any other, not a crash."""
    req = urllib.request.Request(url, data=body, method=method)
    if ctype:
        req.add_header("Content-Type", ctype)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()
