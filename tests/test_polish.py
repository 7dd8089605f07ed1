"""Loose ends of issues 13, 17 and 18: honest explanations, Subsonic's unknown methods, a cheap search,
cheap artwork flags."""

from __future__ import annotations

from pathlib import Path

import pytest


# ---- Subsonic: an unknown method is a Subsonic error, not a bare 404 --------------------------------
@pytest.mark.parametrize("name", ["getArtists", "getAlbumList2.view", "star"])
def test_unknown_subsonic_methods_answer_a_subsonic_error(tmp_path: Path, name: str) -> None:
    import xml.etree.ElementTree as ET

    from fastapi.testclient import TestClient

    from synesthete.server import create_app

    with TestClient(create_app(tmp_path / "library"), base_url="http://127.0.0.1") as client:
        doc = client.get(f"/rest/{name}", params={"f": "json", "u": "me", "p": "x"})
        assert doc.status_code == 404 and doc.headers["content-type"].startswith("application/json")
        body = doc.json()["subsonic-response"]
        assert body["status"] == "failed" and body["error"]["code"] == 0
        assert name.removesuffix(".view") in body["error"]["message"]
        xml = client.post(f"/rest/{name}", data={"u": "me", "p": "x"})
        assert xml.status_code == 404 and xml.headers["content-type"].startswith("application/xml")
        root = ET.fromstring(xml.content)
        error = root.find("{http://subsonic.org/restapi}error")
        assert root.get("status") == "failed" and error is not None and error.get("code") == "0"
        assert client.get("/rest/ping", params={"f": "json"}).json()["subsonic-response"]["status"] == "ok"
