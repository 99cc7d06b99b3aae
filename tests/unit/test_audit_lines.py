"""The audit line per token, written without json.dumps per token: held to what json.loads reads."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from stream_tokens import observability
from stream_tokens.domain.model import AccessRule, TokenRequest, access_rules_digest

hex32 = st.text("0123456789abcdef", min_size=32, max_size=32)
rules = st.lists(st.builds(AccessRule, st.sampled_from(["any", "ip.src"]), st.sampled_from(["allow", "block"])))


@given(hex32, st.integers(0, 2**40), st.booleans(), rules, st.sampled_from(["local", "api"]), st.text(max_size=20))
def test_a_token_line_reads_back_as_its_fields(video, exp, downloadable, access_rules, issuer, caller_id):
    request = TokenRequest(video, exp=exp, nbf=0, downloadable=downloadable, access_rules=tuple(access_rules))
    members = f'{request.audit_members()},"issuer":"{issuer}"'
    line = json.loads("{" + members + "}")
    assert line == {
        "video_id": video,
        "exp": exp,
        "downloadable": downloadable,
        "access_rules": access_rules_digest(tuple(access_rules)),
        "issuer": issuer,
    }


def test_the_lines_carry_caller_and_rule_whatever_their_characters(capsys):
    request = TokenRequest("a" * 32, exp=1, nbf=0)
    observability.tokens_issued_audit({"id": 'x"y\\z', "via": "jwt"}, "rule\n1", [("local", request.audit_members())])
    (line,) = [json.loads(text) for text in capsys.readouterr().out.splitlines() if '"token issued"' in text]
    assert (line["caller"], line["rule"], line["video_id"]) == ({"id": 'x"y\\z', "via": "jwt"}, "rule\n1", "a" * 32)
