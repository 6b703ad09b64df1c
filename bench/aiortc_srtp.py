"""Lets aiortc 1.4 negotiate AEAD_AES_128_GCM SRTP, as browsers do, for the
WHEP benchmark's viewers and relay (bench/whep_viewers.py,
bench/aiortc_whep_relay.py).

aiortc offers only SRTP_AES128_CM_SHA1_80 in DTLS use_srtp and builds its
SRTP sessions for that profile alone. With libsrtp2 built against NSS (as
Debian's is) that profile costs several times what GCM does, so a
benchmark whose viewers are aiortc would measure mostly AES-CM. After
enable(PROFILES), aiortc offers PROFILES (OpenSSL names, in order of
preference; the DTLS server picks), reads which one was selected after the
handshake and keys its SRTP sessions for it.

It works by wrapping three names aiortc.rtcdtlstransport looks up when a
handshake completes, which happens without an await in between:
SSL.Connection.export_keying_material (where the selected profile is read
and the key and salt lengths set), get_srtp_key_salt (reads those lengths)
and Policy (given the profile).
"""
import types

import aiortc.rtcdtlstransport as dtls
from OpenSSL import SSL
from OpenSSL._util import ffi, lib

# OpenSSL name -> (libsrtp profile, key length, salt length)
PROFILES = {
    b"SRTP_AEAD_AES_128_GCM": (dtls.Policy.SRTP_PROFILE_AEAD_AES_128_GCM, 16, 12),
    b"SRTP_AES128_CM_SHA1_80": (dtls.Policy.SRTP_PROFILE_AES128_CM_SHA1_80, 16, 14),
}
_selected = [None]  # profile of the handshake being completed
selected_names = []  # OpenSSL name of every profile negotiated, in order


class _Connection(SSL.Connection):
    def export_keying_material(self, label, olen, context=None):
        prof = lib.SSL_get_selected_srtp_profile(self._ssl)
        name = ffi.string(prof.name) if prof != ffi.NULL else b"SRTP_AES128_CM_SHA1_80"
        profile, key_len, salt_len = PROFILES[name]
        _selected[0] = profile
        selected_names.append(name.decode())
        dtls.SRTP_KEY_LEN, dtls.SRTP_SALT_LEN = key_len, salt_len
        return super().export_keying_material(label, 2 * (key_len + salt_len), context)


class _Policy(dtls.Policy):
    def __init__(self, *args, **kwargs):
        if _selected[0] is not None:
            kwargs["srtp_profile"] = _selected[0]
        super().__init__(*args, **kwargs)


def enable(names=(b"SRTP_AEAD_AES_128_GCM", b"SRTP_AES128_CM_SHA1_80")):
    """Offer the SRTP profiles `names` (OpenSSL names) in every DTLS
    handshake of this process from now on."""
    for n in names:
        if n not in PROFILES:
            raise ValueError(f"unknown SRTP profile {n!r}")
    create = dtls.RTCCertificate._create_ssl_context

    def create_ssl_context(self):
        ctx = create(self)
        ctx.set_tlsext_use_srtp(b":".join(names))
        return ctx

    dtls.RTCCertificate._create_ssl_context = create_ssl_context
    shim = types.SimpleNamespace(**{k: getattr(SSL, k) for k in dir(SSL) if not k.startswith("__")})
    shim.Connection = _Connection
    dtls.SSL = shim
    dtls.Policy = _Policy
