"""The package's own JWT reading and writing (dynamic_sessions/jwts.py), held to PyJWT's: what PyJWT decodes,
unverified, it reads with the same claims; what PyJWT refuses, it refuses."""

import base64
import json

import jwt
import pytest

from dynamic_sessions import jwts

CLAIMS = {"aud": "https://dynamicsessions.io", "exp": 2_000_000_000, "oid": "0000", "roles": ["a", "b"]}


def _segment(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


HEADER = _segment(b'{"alg":"none"}')
PAYLOAD = _segment(json.dumps(CLAIMS).encode())
# A header whose base64url spelling has both `-` and `_`, spelt with base64's `+` and `/` instead.
URL_ALPHABET = _segment(b'{"alg":"none","x":">>>???"}')
STANDARD_ALPHABET = URL_ALPHABET.replace("-", "+").replace("_", "/")
HUGE_NUMBER = _segment(b'{"exp": ' + b"9" * 5000 + b"}")
# Headers PyJWT refuses once decoded: a key id that is not a string, extensions it does not know or that are
# missing, and a detached payload (b64: false, RFC 7797).
REFUSED_HEADERS = {
    "with a numeric kid": b'{"alg":"none","kid":1}',
    "with a null kid": b'{"alg":"none","kid":null}',
    "with an empty crit": b'{"alg":"none","crit":[]}',
    "with crit naming exp": b'{"alg":"none","crit":["exp"],"exp":1}',
    "with crit a string": b'{"alg":"none","crit":"b64"}',
    "with crit naming a missing b64": b'{"alg":"none","crit":["b64"]}',
    "with crit a number": b'{"alg":"none","crit":[1]}',
    "with b64 false, critical": b'{"alg":"none","b64":false,"crit":["b64"]}',
    "with b64 false alone": b'{"alg":"none","b64":false}',
}
ACCEPTED_HEADERS = {
    "with b64 true, critical": b'{"alg":"none","b64":true,"crit":["b64"]}',
    "with b64 true alone": b'{"alg":"none","b64":true}',
}

WELL_FORMED = {
    "unsigned": jwt.encode(CLAIMS, key="", algorithm="none"),
    "signed with HS256": jwt.encode(CLAIMS, key="a-secret-of-at-least-32-bytes-long", algorithm="HS256"),
    "header with a key id": jwt.encode(CLAIMS, key="", algorithm="none", headers={"kid": "k1"}),
    **{f"header {name}": f"{_segment(header)}.{PAYLOAD}." for name, header in ACCEPTED_HEADERS.items()},
    "padded segments": f"{HEADER}{'=' * (-len(HEADER) % 4)}.{PAYLOAD}{'=' * (-len(PAYLOAD) % 4)}.",
}
MALFORMED = {
    "one segment": "not-a-jwt",
    "two segments": f"{HEADER}.{PAYLOAD}",
    "four segments": f"{HEADER}.{PAYLOAD}.{PAYLOAD}.",
    "header not base64url": f"!!!.{PAYLOAD}.",
    "header in base64's + and / alphabet": f"{STANDARD_ALPHABET}.{PAYLOAD}.",
    "header padded thrice": f"{HEADER}===.{PAYLOAD}.",
    "header padded where no padding fits": f"{HEADER}{'=' * (1 + -len(HEADER) % 4)}.{PAYLOAD}.",
    "header with stray trailing bits": f"{HEADER[:-1]}{chr(ord(HEADER[-1]) + 1)}.{PAYLOAD}.",
    "header not JSON": f"{_segment(b'alg')}.{PAYLOAD}.",
    "header a JSON array": f"{_segment(b'[1]')}.{PAYLOAD}.",
    "claims a JSON array": f"{HEADER}.{_segment(b'[1, 2]')}.",
    "claims not UTF-8": f"{HEADER}.{_segment(bytes([0xFF, 0xFE, 0x7B]))}.",
    "claims nested a hundred thousand deep": f"{HEADER}.{_segment(b'[' * 100_000)}.",
    "claims with an integer of 5,000 digits": f"{HEADER}.{HUGE_NUMBER}.",  # past Python's 4,300 digits
    "signature not base64url": f"{HEADER}.{PAYLOAD}.a",
    **{f"header {name}": f"{_segment(header)}.{PAYLOAD}." for name, header in REFUSED_HEADERS.items()},
    "empty": "",
}


@pytest.mark.parametrize("token", WELL_FORMED.values(), ids=WELL_FORMED.keys())
def test_a_token_pyjwt_decodes_is_read_with_the_same_claims(token):
    expected = jwt.decode(token, options={"verify_signature": False})
    assert expected == CLAIMS
    assert jwts.unverified_claims(token) == expected


@pytest.mark.parametrize("token", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_token_pyjwt_refuses_is_refused(token):
    with pytest.raises(jwt.InvalidTokenError):  # DecodeError, or for a header's fields InvalidTokenError itself
        jwt.decode(token, options={"verify_signature": False})
    assert jwts.unverified_claims(token) is None


def test_the_alphabet_case_spells_a_different_header():
    assert "-" in URL_ALPHABET and "_" in URL_ALPHABET
    assert jwts.unverified_claims(f"{URL_ALPHABET}.{PAYLOAD}.") == CLAIMS


def test_an_unsigned_token_is_what_pyjwt_makes_of_the_same_claims():
    minted = jwts.unsigned(CLAIMS)
    assert jwt.get_unverified_header(minted) == {"alg": "none", "typ": "JWT"}
    assert jwt.decode(minted, options={"verify_signature": False}) == CLAIMS
    assert minted.endswith(".") and "=" not in minted  # base64url without padding, and an empty signature
