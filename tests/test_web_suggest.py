"""The web list "needs your call": the items `label --suggest` proposes, their reasons, and yes/no answers."""

from __future__ import annotations

from pathlib import Path

import httpx
from lxml import html
from sqlalchemy import select

from aggregator.classify.suggest import suggest_labels
from aggregator.config.settings import Settings
from aggregator.models import ItemTopic, Label
from aggregator.store.database import Database
from aggregator.web import create_app
from tests.digestdata import REPO, add_item, add_source, utc
from tests.test_web import TOKEN, login
from tests.webserver import WebServer

HOSTILE = '<script>window.__pwned=1</script>Cartel <img src=x onerror="window.__pwned=2"> ambush'


def _seed(url: str) -> dict[str, int]:
    db = Database(url)
    with db.session() as session:
        add_source(session, "wire")
        seen = utc(2026, 11, 20, 12)
        ids = {
            "hostile": add_item(session, "wire", HOSTILE, "Gunmen ambushed a convoy.", seen=seen,
                                tags={"cartels": 0.49}),
            "sure": add_item(session, "wire", "Cartel leader extradited", "x", seen=seen, tags={"cartels": 0.98}),
            "es": add_item(session, "wire", "Enfrentamiento en Apatzingán", "x", seen=seen, language="es",
                           tags={"cartels": 0.45}),
        }  # fmt: skip
        tag = session.get(ItemTopic, (ids["hostile"], "cartels"))
        assert tag is not None
        tag.explanation = {
            "rule_score": 0.4, "rule_threshold": 0.5, "rule_passed": False, "threshold": 0.5,
            "hits": [{"kind": "rule", "ref": "rule #1", "term": "<b>ambush</b>", "field": "title", "weight": 0.4}],
            "features": [["gunmen", 0.31], ["convoy [onvo]", 0.12]],
        }  # fmt: skip
    db.close()
    return ids


def _labels(url: str) -> list[tuple[int, str, bool, str]]:
    db = Database(url)
    with db.session() as session:
        rows = [(lb.item_id, lb.topic, lb.value, lb.origin) for lb in session.scalars(select(Label))]
    db.close()
    return rows


def test_the_list_is_label_suggest_and_answers_are_labels(tmp_path: Path, db_url: str) -> None:
    ids = _seed(db_url)
    settings = Settings(data_dir=str(tmp_path / "data"))
    settings.config_dir = REPO / "config"
    db = Database(db_url)
    with db.session() as session:
        expected = [
            (s.item_id, s.topic) for s in suggest_labels(session, ["cartels", "terrorism", "border_security"], 20)
        ]
    db.close()
    app = create_app(settings, db_url, token=TOKEN, allowed_hosts=["127.0.0.1"])
    with WebServer(app) as server, httpx.Client(base_url=server.origin, timeout=30) as client:
        page = client.get("/suggest")
        assert page.status_code == 200
        assert (
            "<script>window.__pwned" not in page.text and "<img src=x" not in page.text and "<b>ambush" not in page.text
        )
        tree = html.fromstring(page.text)
        rows = tree.xpath("//tr[@class='suggestion']")
        assert [(int(r.get("data-item")), r.get("data-topic")) for r in rows] == expected  # one implementation
        first = rows[0]
        assert int(first.get("data-item")) == ids["hostile"]  # margin 0.01: the least sure comes first
        assert HOSTILE in first.text_content()  # shown as text, escaped
        why = first.text_content()
        assert "“<b>ambush</b>” in title" in why and "gunmen +0.31" in why and "convoy [onvo] +0.12" in why
        assert "0.49" in why and "needs 0.50" in why
        assert "log in to answer" in why and not tree.xpath("//form[starts-with(@action, '/suggest/')]")
        assert tree.xpath("//header/a[@href='/suggest']")  # in the nav

        # Logged in: yes/no forms with the session's CSRF token; without it, or from elsewhere, nothing is stored.
        assert login(client, server).status_code == 303
        tree = html.fromstring(client.get("/suggest").text)
        form = tree.xpath(f"//form[@action='/suggest/{ids['hostile']}']")[0]
        csrf = form.xpath(".//input[@name='csrf']/@value")[0]
        data = {"topic": "cartels", "value": "yes", "csrf": csrf, "n": "20"}
        same = {"origin": server.origin}
        assert client.post(f"/suggest/{ids['hostile']}", data={**data, "csrf": "x"}, headers=same).status_code == 403
        evil = {"origin": "http://evil.example"}
        assert client.post(f"/suggest/{ids['hostile']}", data=data, headers=evil).status_code == 403
        assert _labels(db_url) == []
        answered = client.post(f"/suggest/{ids['hostile']}", data=data, headers=same)
        assert answered.status_code == 303 and answered.headers["location"] == "/suggest?n=20&saved=cartels"
        assert _labels(db_url) == [(ids["hostile"], "cartels", True, "web")]
        after = html.fromstring(client.get(answered.headers["location"]).text)
        assert "Saved your answer" in after.get_element_by_id("saved").text_content()
        left = [int(r.get("data-item")) for r in after.xpath("//tr[@class='suggestion']")]
        assert ids["hostile"] not in left and ids["es"] in left  # answered: it leaves the list
        db = Database(db_url)
        with db.session() as session:
            tag = session.get(ItemTopic, (ids["hostile"], "cartels"))
            assert tag is not None and tag.passed and tag.method == "label"  # the tag followed the answer
        db.close()
        assert client.post("/suggest/999999", data=data, headers=same).status_code == 404
        assert client.post(f"/suggest/{ids['es']}", data={**data, "topic": "nope"}, headers=same).status_code == 400
