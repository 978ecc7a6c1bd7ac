#!/usr/bin/env python3
"""aws_sign.py: call ECR's GetAuthorizationToken, signed with SigV4.

A minimal AWS client for the tests' own checks of tests/tools/aws_stub.py
(that the stand-in accepts a correctly signed request and refuses a wrong
one) before depot is involved. It prints the HTTP status on the first line
and the response body after it, and exits 0 whatever the status.

  aws_sign.py URL ACCESS_KEY_ID SECRET [--session-token T]
              [--region us-east-1] [--service ecr] [--public]
              [--date YYYYMMDDTHHMMSSZ]

--public calls ECR Public (SpencerFrontendService, service ecr-public).
Only the Python standard library is used.
"""

import argparse
import hashlib
import hmac
import http.client
import sys
import time
import urllib.parse


def sign(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("url")
    p.add_argument("key_id")
    p.add_argument("secret")
    p.add_argument("--session-token")
    p.add_argument("--region", default="us-east-1")
    p.add_argument("--service")
    p.add_argument("--public", action="store_true")
    p.add_argument("--date")
    a = p.parse_args()
    u = urllib.parse.urlsplit(a.url)
    host = u.netloc
    target = ("SpencerFrontendService.GetAuthorizationToken" if a.public else
              "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken")
    service = a.service or ("ecr-public" if a.public else "ecr")
    body = b"{}"
    amzdate = a.date or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    headers = {
        "content-type": "application/x-amz-json-1.1",
        "host": host,
        "x-amz-date": amzdate,
        "x-amz-target": target,
    }
    if a.session_token:
        headers["x-amz-security-token"] = a.session_token
    names = sorted(headers)
    creq = "POST\n/\n\n" + "".join("%s:%s\n" % (n, headers[n]) for n in names)
    creq += "\n" + ";".join(names) + "\n" + hashlib.sha256(body).hexdigest()
    scope = "%s/%s/%s/aws4_request" % (amzdate[:8], a.region, service)
    sts = "AWS4-HMAC-SHA256\n%s\n%s\n%s" % (
        amzdate, scope, hashlib.sha256(creq.encode()).hexdigest())
    k = sign(("AWS4" + a.secret).encode(), amzdate[:8])
    for part in (a.region, service, "aws4_request"):
        k = sign(k, part)
    sig = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (
        "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s"
        % (a.key_id, scope, ";".join(names), sig))
    conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=30)
    conn.request("POST", "/", body=body, headers=headers)
    r = conn.getresponse()
    print(r.status)
    sys.stdout.write(r.read().decode("utf-8", "replace") + "\n")


if __name__ == "__main__":
    main()
