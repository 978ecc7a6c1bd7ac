#!/usr/bin/env python3
"""jwt_forge.py: read, check and forge the Bearer tokens (JWT) of depot.

  jwt_forge.py decode TOKEN
      Prints {"header": {...}, "claims": {...}} (nothing is verified).

  jwt_forge.py verify TOKEN CERT
      Checks that the token is an ES256 JWT whose header names CERT the
      way Docker's registry expects (kid: the libtrust key id of CERT's
      public key; x5c: CERT in base64 DER) and whose signature verifies
      with CERT's public key. Exit 0, or 1 with the reason on stderr.

  jwt_forge.py sign --key KEY [--cert CERT] [--alg ES256|none]
                    [--iss ISS] [--aud AUD] [--sub SUB] [--exp SECONDS]
                    [--access TYPE:NAME:ACTIONS]...
      Prints a new token signed with the EC P-256 private key KEY (PEM).
      The header's kid and x5c come from CERT when given (also when CERT
      is not KEY's certificate: a token that claims another signer), else
      the kid is KEY's own and there is no x5c. --exp is the expiry in
      seconds from now (default 300); a negative value gives a token that
      expired that long ago (iat and nbf further in the past). --alg none
      gives an unsigned token (empty signature). --access may repeat;
      ACTIONS are comma separated, e.g. repository:public/x:pull,push.

  jwt_forge.py tamper TOKEN [--sub SUB] [--access TYPE:NAME:ACTIONS]...
      Prints TOKEN with its claims changed (access replaced by the given
      entries, sub when given) and its header and signature kept as they
      were.

Only the python3 standard library and the openssl command line tool are
used.
"""

import argparse
import base64
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text):
    text = text.strip()
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def openssl(args, data=None):
    res = subprocess.run(["openssl"] + args, input=data,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         check=False)
    if res.returncode != 0:
        raise RuntimeError("openssl %s failed: %s" %
                           (args[0], res.stderr.decode(errors="replace")))
    return res.stdout


def split_token(token):
    parts = token.strip().split(".")
    if len(parts) != 3:
        raise ValueError("a JWT has three dot separated parts, not %d" %
                         len(parts))
    return parts


def decode(token):
    head, body, _ = split_token(token)
    return json.loads(unb64url(head)), json.loads(unb64url(body))


def spki_of_cert(cert):
    """DER SubjectPublicKeyInfo of a PEM certificate."""
    pem = openssl(["x509", "-in", cert, "-noout", "-pubkey"])
    return openssl(["pkey", "-pubin", "-outform", "DER"], data=pem)


def spki_of_key(key):
    return openssl(["pkey", "-in", key, "-pubout", "-outform", "DER"])


def cert_der(cert):
    return openssl(["x509", "-in", cert, "-outform", "DER"])


def key_id(spki):
    """libtrust key id: base32 of 240 bits of SHA-256, groups of four."""
    text = base64.b32encode(hashlib.sha256(spki).digest()[:30]).decode()
    text = text.rstrip("=")
    return ":".join(text[i:i + 4] for i in range(0, len(text), 4))


def der_len(data, pos):
    """Length of the DER element whose length octets start at pos."""
    first = data[pos]
    if first < 0x80:
        return first, pos + 1
    count = first & 0x7f
    return int.from_bytes(data[pos + 1:pos + 1 + count], "big"), pos + 1 + count


def ecdsa_der_to_raw(sig, size=32):
    """DER ECDSA-Sig-Value (SEQUENCE of r, s) to the JWS form r || s."""
    if sig[0] != 0x30:
        raise ValueError("not a DER ECDSA signature")
    _, pos = der_len(sig, 1)
    out = b""
    for _ in range(2):
        if sig[pos] != 0x02:
            raise ValueError("not a DER ECDSA signature")
        n, pos = der_len(sig, pos + 1)
        value = sig[pos:pos + n].lstrip(b"\0")
        pos += n
        if len(value) > size:
            raise ValueError("integer too long for P-256")
        out += value.rjust(size, b"\0")
    return out


def der_int(value):
    body = value.lstrip(b"\0") or b"\0"
    if body[0] & 0x80:
        body = b"\0" + body
    return b"\x02" + bytes([len(body)]) + body


def ecdsa_raw_to_der(raw):
    half = len(raw) // 2
    body = der_int(raw[:half]) + der_int(raw[half:])
    return b"\x30" + bytes([len(body)]) + body


def parse_access(specs):
    out = []
    for spec in specs or []:
        first = spec.find(":")
        last = spec.rfind(":")
        if first < 0 or last == first:
            raise ValueError("access '%s' is not TYPE:NAME:ACTIONS" % spec)
        out.append({"type": spec[:first], "name": spec[first + 1:last],
                    "actions": [a for a in spec[last + 1:].split(",") if a]})
    return out


def encode_json(obj):
    return b64url(json.dumps(obj, separators=(",", ":")).encode())


def sign_es256(key, data):
    der = openssl(["dgst", "-sha256", "-sign", key], data=data)
    return ecdsa_der_to_raw(der)


def cmd_decode(args):
    header, claims = decode(args.token)
    print(json.dumps({"header": header, "claims": claims}, sort_keys=True))
    return 0


def cmd_verify(args):
    try:
        header, _ = decode(args.token)
        head, body, sig = split_token(args.token)
    except (ValueError, UnicodeDecodeError) as e:
        print("not a JWT: %s" % e, file=sys.stderr)
        return 1
    problems = []
    if header.get("alg") != "ES256":
        problems.append("alg is %r, not ES256" % header.get("alg"))
    want_kid = key_id(spki_of_cert(args.cert))
    if header.get("kid") != want_kid:
        problems.append("kid is %r, not %r" % (header.get("kid"), want_kid))
    x5c = header.get("x5c")
    if not isinstance(x5c, list) or not x5c or \
            base64.b64decode(x5c[0]) != cert_der(args.cert):
        problems.append("x5c[0] is not the certificate")
    raw = unb64url(sig)
    if len(raw) != 64:
        problems.append("the signature has %d bytes, not 64" % len(raw))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            pub = os.path.join(tmp, "pub.pem")
            sigfile = os.path.join(tmp, "sig.der")
            with open(pub, "wb") as f:
                f.write(openssl(["x509", "-in", args.cert, "-noout",
                                 "-pubkey"]))
            with open(sigfile, "wb") as f:
                f.write(ecdsa_raw_to_der(raw))
            res = subprocess.run(
                ["openssl", "dgst", "-sha256", "-verify", pub,
                 "-signature", sigfile],
                input=("%s.%s" % (head, body)).encode(),
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
            if res.returncode != 0:
                problems.append("the signature does not verify")
    for p in problems:
        print(p, file=sys.stderr)
    return 1 if problems else 0


def cmd_sign(args):
    now = int(time.time())
    exp = now + args.exp
    # An expired token was issued well before it expired.
    iat = now - 5 if args.exp > 0 else exp - 600
    claims = {
        "iss": args.iss,
        "sub": args.sub,
        "aud": args.aud,
        "exp": exp,
        "nbf": iat,
        "iat": iat,
        "jti": uuid.uuid4().hex,
        "access": parse_access(args.access),
    }
    header = {"typ": "JWT", "alg": args.alg}
    if args.alg != "none":
        if args.cert:
            header["kid"] = key_id(spki_of_cert(args.cert))
            header["x5c"] = [base64.b64encode(cert_der(args.cert)).decode()]
        else:
            header["kid"] = key_id(spki_of_key(args.key))
    signing_input = "%s.%s" % (encode_json(header), encode_json(claims))
    if args.alg == "none":
        sig = ""
    else:
        sig = b64url(sign_es256(args.key, signing_input.encode()))
    print("%s.%s" % (signing_input, sig))
    return 0


def cmd_tamper(args):
    head, body, sig = split_token(args.token)
    claims = json.loads(unb64url(body))
    if args.access is not None:
        claims["access"] = parse_access(args.access)
    if args.sub is not None:
        claims["sub"] = args.sub
    print("%s.%s.%s" % (head, encode_json(claims), sig))
    return 0


def main():
    ap = argparse.ArgumentParser(description="read and forge depot tokens")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("decode")
    p.add_argument("token")
    p.set_defaults(func=cmd_decode)
    p = sub.add_parser("verify")
    p.add_argument("token")
    p.add_argument("cert")
    p.set_defaults(func=cmd_verify)
    p = sub.add_parser("sign")
    p.add_argument("--key", required=True)
    p.add_argument("--cert")
    p.add_argument("--alg", default="ES256", choices=("ES256", "none"))
    p.add_argument("--iss", default="depot")
    p.add_argument("--aud", default="depot")
    p.add_argument("--sub", default="")
    p.add_argument("--exp", type=int, default=300)
    p.add_argument("--access", action="append")
    p.set_defaults(func=cmd_sign)
    p = sub.add_parser("tamper")
    p.add_argument("token")
    p.add_argument("--sub")
    p.add_argument("--access", action="append")
    p.set_defaults(func=cmd_tamper)
    args = ap.parse_args()
    try:
        return args.func(args)
    except (RuntimeError, ValueError) as e:
        print("jwt_forge.py: %s" % e, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
