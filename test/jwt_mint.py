#!/usr/bin/python3
"""Keys, JWKS documents and tokens of an "identity provider", made with a
real JWT library (Debian python3-jwt + python3-cryptography), for the tests
of multitenant.jwks (test/shell/jwks_*.sh) and the jwks benchmark.

  jwt_mint.py key <dir> <name> rsa|rsa1024|ec|ed     new private key <dir>/<name>.pem
  jwt_mint.py jwks <dir> <name>[:kid[:alg]] ...       JWKS of those keys' public halves
  jwt_mint.py token <dir> <name> <alg> <kid|-> <json> [header json]
                                                      a signed token
  jwt_mint.py raw <dir> <name> <alg> <kid|-> <payload text>
                                                      signed over the payload's bytes as given
  jwt_mint.py hs256 <secret file> <json> [header json] HS256 with a file's bytes as key
"""
import json
import sys

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa


def load(d, name):
    with open(f"{d}/{name}.pem", "rb") as f:
        return serialization.load_pem_private_key(f.read(), password=None)


def main(argv):
    cmd = argv[1]
    if cmd == "key":
        d, name, kind = argv[2:5]
        if kind == "rsa":
            k = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        elif kind == "rsa1024":
            k = rsa.generate_private_key(public_exponent=65537, key_size=1024)
        elif kind == "ec":
            k = ec.generate_private_key(ec.SECP256R1())
        else:
            k = ed25519.Ed25519PrivateKey.generate()
        with open(f"{d}/{name}.pem", "wb") as f:
            f.write(k.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))
        with open(f"{d}/{name}.pub.pem", "wb") as f:
            f.write(k.public_key().public_bytes(serialization.Encoding.PEM,
                                                serialization.PublicFormat.SubjectPublicKeyInfo))
    elif cmd == "jwks":
        d = argv[2]
        keys = []
        for spec in argv[3:]:
            parts = spec.split(":")
            pub = load(d, parts[0]).public_key()
            if isinstance(pub, rsa.RSAPublicKey):
                jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(pub))
            elif isinstance(pub, ec.EllipticCurvePublicKey):
                jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(pub))
                # RFC 7518 6.2.1.2: x and y are the full length of the
                # curve's coordinates; PyJWT 2.6 drops leading zero bytes
                # (about one key in 160 for P-256), which the server rightly
                # refuses: pad them here
                import base64
                size = (pub.curve.key_size + 7) // 8
                nums = pub.public_numbers()
                for c, v in (("x", nums.x), ("y", nums.y)):
                    jwk[c] = base64.urlsafe_b64encode(v.to_bytes(size, "big")).rstrip(b"=").decode()
            else:
                jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(pub))
            if len(parts) > 1 and parts[1]:
                jwk["kid"] = parts[1]
            if len(parts) > 2 and parts[2]:
                jwk["alg"] = parts[2]
            jwk["use"] = "sig"
            keys.append(jwk)
        print(json.dumps({"keys": keys}, separators=(",", ":")))
    elif cmd == "token":
        d, name, alg, kid, payload = argv[2:7]
        headers = json.loads(argv[7]) if len(argv) > 7 else {}
        if kid != "-":
            headers["kid"] = kid
        print(jwt.encode(json.loads(payload), load(d, name), algorithm=alg, headers=headers))
    elif cmd == "raw":
        # the payload's bytes as given (duplicate members kept)
        d, name, alg, kid, payload = argv[2:7]
        headers = {"kid": kid} if kid != "-" else {}
        print(jwt.api_jws.encode(payload.encode(), load(d, name), algorithm=alg, headers=headers))
    elif cmd == "hs256":
        with open(argv[2], "rb") as f:
            secret = f.read()
        headers = json.loads(argv[4]) if len(argv) > 4 else {}
        # PyJWT refuses a PEM public key as an HMAC secret (the very
        # confusion attack): sign by hand
        import base64
        import hashlib
        import hmac

        def b64(b):
            return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
        h = {"alg": "HS256", "typ": "JWT"}
        h.update(headers)
        si = b64(json.dumps(h).encode()) + "." + b64(argv[3].encode())
        print(si + "." + b64(hmac.new(secret, si.encode(), hashlib.sha256).digest()))
    else:
        sys.exit(f"unknown command {cmd}")


main(sys.argv)
