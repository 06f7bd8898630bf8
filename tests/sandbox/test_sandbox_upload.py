"""Section F: media upload, judged by content, size and signature."""

from __future__ import annotations

import re

import pytest
import requests

TEN_MB = 10 * 1024 * 1024


@pytest.mark.parametrize(
    ("kind", "filename"),
    [("PNG", "p.png"), ("JPEG", "p.jpg"), ("GIF", "p.gif"), ("PNG", "p.jpg"), ("GIF", "noname")],
)
def test_images_accepted_by_content(client, kind, filename):
    data = getattr(client, kind)
    response = client.upload(data, filename)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    answer = response.json()
    assert answer["status"] == 0
    assert re.fullmatch(r"[A-Za-z0-9]{64}", answer["image_id"])
    assert answer["image_id"] in client.platform.image_ids
    record = client.platform.uploads()[-1]
    assert record.accepted and record.code == 0
    assert record.param("image") == data  # binary bytes, CR LF and all, intact


@pytest.mark.parametrize(
    "data",
    [
        b"this is text, not a picture",
        b"GIF88a" + b"\x00" * 10,
        b"\xff\xd8" + b"\x00" * 10,
        b"\x89PNG\r\n\x1a" + b"\x00" * 10,  # one byte short of the PNG signature
        b"%PDF-1.4\n",
    ],
)
def test_non_images_refused_with_4_whatever_the_name(client, data):
    answer = client.upload(data, "picture.png").json()
    assert answer == {"status": 4, "error": "format not accepted (JPG, GIF, PNG)"}
    assert client.platform.image_ids == set()


def test_size_limit(client):
    at_limit = client.PNG + b"\x00" * (TEN_MB - len(client.PNG))
    assert client.upload(at_limit).json()["status"] == 0
    answer = client.upload(at_limit + b"\x00").json()
    assert answer["status"] == 3
    assert "error" in answer


def test_bad_signature(client):
    sign = client.upload_sign(client.LOGIN, client.PNG, client.SECRET)
    changed = sign[:-1] + ("0" if sign[-1] != "0" else "1")
    assert client.upload(client.PNG, sign=changed).json() == {
        "status": 2,
        "error": "incorrect signature",
    }
    assert client.upload(client.PNG, sign=sign.upper()).json()["status"] == 2
    assert client.upload(client.PNG, secret="other").json()["status"] == 2
    # The signature covers the file: the same sign over other bytes is wrong.
    assert client.upload(client.PNG + b"\x00", sign=sign).json()["status"] == 2


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"login": None}, "login"),
        ({"login": "nobody"}, "login"),
        ({"include_image": False}, "image"),
        ({"sign": None}, "sign"),
    ],
)
def test_incorrect_data_names_the_field(client, kwargs, named):
    answer = client.upload(client.PNG, **kwargs).json()
    assert answer == {"status": 1, "error": f"incorrect data ({named})"}
    assert client.platform.uploads()[-1].accepted is False


def test_empty_file_is_incorrect_data(client):
    answer = client.upload(b"", sign=client.upload_sign(client.LOGIN, b"", client.SECRET)).json()
    assert answer == {"status": 1, "error": "incorrect data (image)"}


def test_not_multipart(client):
    response = requests.post(client.platform.media_url, data={"login": "acme"}, timeout=5)
    assert response.json()["status"] == 1
    assert requests.get(client.platform.media_url, timeout=5).status_code == 405


def test_each_upload_issues_a_fresh_image_id(client):
    ids = {client.image_id() for _ in range(3)}
    assert len(ids) == 3
    assert client.platform.image_ids == ids
    assert len(client.platform.uploads()) == 3
    assert client.platform.sends() == []


def test_multipart_by_hand_with_binary_and_boundary_lookalikes(client):
    """A file holding CR LF, '--' and the boundary's prefix must come through intact."""
    data = client.JPEG + b"\r\n--bnd\r\n\r\n--bn" + bytes(range(256))
    boundary = "bnd0123456789"
    sign = client.upload_sign(client.LOGIN, data, client.SECRET)
    body = b"".join(
        [
            f"--{boundary}\r\n".encode(),
            b'Content-Disposition: form-data; name="login"\r\n\r\nacme\r\n',
            f"--{boundary}\r\n".encode(),
            b'Content-Disposition: form-data; name="image"; filename="x.jpg"\r\n',
            b"Content-Type: image/jpeg\r\n\r\n",
            data,
            b"\r\n",
            f"--{boundary}\r\n".encode(),
            f'Content-Disposition: form-data; name="sign"\r\n\r\n{sign}\r\n'.encode(),
            f"--{boundary}--\r\n".encode(),
        ]
    )
    response = requests.post(
        client.platform.media_url,
        data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        timeout=5,
    )
    assert response.json()["status"] == 0
    assert client.platform.uploads()[-1].param("image") == data


def test_truncated_multipart_is_incorrect_data(client):
    body = b'--b\r\nContent-Disposition: form-data; name="login"\r\n\r\nacme\r\n'
    response = requests.post(
        client.platform.media_url,
        data=body,
        headers={"Content-Type": "multipart/form-data; boundary=b"},
        timeout=5,
    )
    assert response.json() == {"status": 1, "error": "incorrect data (multipart body)"}
