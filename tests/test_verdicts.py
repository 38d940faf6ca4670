"""The reporter's own verdicts win: a label decides the stored tag (search, digest, export, explain, web), and the
label and evaluate commands say what is wrong in words."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from lxml import html

from aggregator.classify.classifier import Classifier
from aggregator.classify.tagging import LABEL_METHOD, add_label, tag_items
from aggregator.config.settings import Settings
from aggregator.models import ItemTopic
from aggregator.store.database import Database
from aggregator.web import create_app
from tests.digestdata import REPO, add_item, add_source, topics
from tests.test_cli import agg
from tests.webserver import WebServer

TOKEN = "the reporter has the last word"
CONVOY = (
    "CJNG gunmen ambush state police convoy in Jalisco",
    "Suspected Cartel Jalisco Nueva Generación sicarios opened fire on a police convoy near Tlajomulco, "
    "killing four officers.",
)
OPEC = ("OPEC+ agrees to extend oil output cuts into next year", "The oil cartel said the cuts would support prices.")
GULF = (
    "Detienen a operador financiero del Cártel del Golfo en Matamoros",
    "La Fiscalía informó que el detenido administraba el cobro de piso y el lavado de dinero de la organización "
    "criminal.",
)


def _config(tmp_path: Path) -> Path:
    config = tmp_path / "config"
    config.mkdir()
    shutil.copy(REPO / "config" / "topics.toml", config / "topics.toml")
    (config / "settings.toml").write_text(f'data_dir = "{tmp_path / "data"}"\n')
    (config / "sources.toml").write_text("")
    return config


def _seed(db_url: str) -> dict[str, int]:
    """Three untagged items seen an hour ago (inside the next digest): by their words, two are about cartels."""
    seen = datetime.now(UTC) - timedelta(hours=1)
    db = Database(db_url)
    with db.session() as session:
        add_source(session, "wire")
        add_source(session, "proceso", language="es")
        ids = {
            "convoy": add_item(session, "wire", *CONVOY, seen=seen),
            "opec": add_item(session, "wire", *OPEC, seen=seen + timedelta(minutes=5)),
            "gulf": add_item(session, "proceso", *GULF, seen=seen + timedelta(minutes=10), language="es"),
        }
    db.close()
    return ids


def _tag(db_url: str, item_id: int, topic: str = "cartels") -> ItemTopic:
    db = Database(db_url)
    with db.session() as session:
        row = session.get(ItemTopic, (item_id, topic))
        assert row is not None, f"item {item_id} has no stored tag for {topic}"
        session.expunge(row)
    db.close()
    return row


def _ok(*args: str) -> str:
    result = agg(*args)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _explain_line(out: str, topic: str = "cartels") -> str:
    return next(line for line in out.splitlines() if line[6:].startswith(topic + " "))


def _digest_items(content: dict[str, Any], section: str) -> set[int]:
    stories = next(s for s in content["sections"] if s["id"] == section)["stories"]
    return {
        item["item_id"]
        for entry in stories
        for outlet in content["stories"][str(entry["story"])]["outlets"]
        for item in outlet["items"]
    }


def test_a_label_decides_the_tag_everywhere_and_survives_training_and_retagging(tmp_path: Path, db_url: str) -> None:
    ids = _seed(db_url)
    base = ["--config", str(_config(tmp_path)), "--db", db_url]
    _ok(*base, "tag")
    # What the classifier says on its own: the convoy and the Gulf cartel item are about cartels, OPEC is not.
    assert _tag(db_url, ids["convoy"]).passed and _tag(db_url, ids["gulf"]).passed
    assert not _tag(db_url, ids["opec"]).passed

    assert "is not about cartels" in _ok(*base, "label", str(ids["convoy"]), "--topic", "cartels", "--no")
    _ok(*base, "label", str(ids["opec"]), "--topic", "cartels", "--yes")
    # At once, before any training; the model's own verdict is kept beside the label.
    assert not _tag(db_url, ids["convoy"]).passed and _tag(db_url, ids["opec"]).passed
    before = _tag(db_url, ids["convoy"])
    assert before.score >= 0.5 and before.explanation["model_passed"] is True and before.method == LABEL_METHOD

    _ok(*base, "train")
    _ok(*base, "tag", "--all")
    convoy, opec = _tag(db_url, ids["convoy"]), _tag(db_url, ids["opec"])
    assert (convoy.passed, convoy.method) == (False, LABEL_METHOD)
    # The retrained model has learnt the label (word fragments let it fit its own training items) or not; the
    # label decides the tag either way, and the explanation says what the model thinks now.
    assert convoy.explanation["label"] is False
    assert isinstance(convoy.explanation["model_passed"], bool) and convoy.explanation["model_method"] != LABEL_METHOD
    assert "reporter" in convoy.explanation["decided_by"] and convoy.explanation["hits"]  # the model's reasons stay
    # The retrained model may now agree about OPEC (it learns the label); the tag is the label's either way.
    assert (opec.passed, opec.method, opec.explanation["label"]) == (True, LABEL_METHOD, True)
    assert _tag(db_url, ids["gulf"]).method != LABEL_METHOD  # an unlabelled item keeps the model's verdict

    found = json.loads(_ok(*base, "search", "topic:cartels", "--format", "json"))
    assert {hit["item_id"] for hit in found["hits"]} == {ids["opec"], ids["gulf"]}

    content = json.loads(_ok(*base, "digest", "--preview", "--format", "json"))
    assert _digest_items(content, "cartels") == {ids["opec"], ids["gulf"]}

    exported = {row["id"]: row["topics"] for row in map(json.loads, _ok(*base, "export").splitlines())}
    assert "cartels" not in exported[ids["convoy"]] and "cartels" in exported[ids["opec"]]

    said_no = _explain_line(_ok(*base, "explain", str(ids["convoy"])))
    assert said_no.startswith("  no  cartels") and "[your label: no]" in said_no, said_no
    convoy_model = "yes" if convoy.explanation["model_passed"] else "no"
    assert f"the model says {convoy_model}" in said_no and "stored tag says" not in said_no, said_no
    assert f"score {convoy.score:.2f}" in said_no, said_no
    said_yes = _explain_line(_ok(*base, "explain", str(ids["opec"])))
    assert said_yes.startswith("  YES cartels") and "[your label: yes]" in said_yes, said_yes
    model_said = "yes" if opec.explanation["model_passed"] else "no"
    assert f"decided by your label (the model says {model_said}," in said_yes, said_yes


def test_label_without_yes_or_no_names_both(tmp_path: Path) -> None:
    base = ["--config", str(_config(tmp_path)), "--db", f"sqlite:///{tmp_path}/l.sqlite"]
    result = agg(*base, "label", "30", "--topic", "cartels")
    assert result.returncode == 2
    assert "say --yes or --no: is item 30 about cartels?" in result.stderr, result.stderr
    assert "Missing option" not in result.stderr


@pytest.fixture
def web(tmp_path: Path, db_url: str) -> Iterator[tuple[WebServer, dict[str, int]]]:
    ids = _seed(db_url)
    db = Database(db_url)
    with db.session() as session:
        tag_items(session, Classifier(topics()), list(ids.values()), now=datetime.now(UTC))  # the rules alone
    db.close()
    settings = Settings(data_dir=str(tmp_path / "data"))
    settings.config_dir = REPO / "config"
    app = create_app(settings, db_url, token=TOKEN, allowed_hosts=["127.0.0.1"])
    with WebServer(app) as server:
        yield server, ids


def test_a_label_given_on_the_web_decides_the_tag_too(web: tuple[WebServer, dict[str, int]], db_url: str) -> None:
    server, ids = web
    gulf = ids["gulf"]
    assert _tag(db_url, gulf).passed
    same = {"origin": server.origin}
    with httpx.Client(base_url=server.origin, timeout=30) as client:
        assert client.post("/login", data={"token": TOKEN, "next": "/"}, headers=same).status_code == 303
        page = html.fromstring(client.get(f"/items/{gulf}").text)
        csrf = str(page.xpath("//div[@id='feedback']//input[@name='csrf']/@value")[0])
        form = {"topic": "cartels", "value": "no", "csrf": csrf}
        assert client.post(f"/items/{gulf}/feedback", data=form, headers=same).status_code == 303
        [topic] = [t for t in client.get(f"/api/items/{gulf}").json()["topics"] if t["topic"] == "cartels"]
        assert (topic["passed"], topic["method"], topic["your_label"]) == (False, LABEL_METHOD, False)
        assert topic["explanation"]["model_passed"] is True and topic["score"] >= 0.5
        hits = client.get("/api/search", params={"q": "topic:cartels"}).json()["hits"]
        assert ids["convoy"] in {h["item_id"] for h in hits} and gulf not in {h["item_id"] for h in hits}
    # Every later tagging run keeps the label.
    db = Database(db_url)
    with db.session() as session:
        tag_items(session, Classifier(topics()), [gulf], now=datetime.now(UTC))
    db.close()
    assert not _tag(db_url, gulf).passed


def test_a_label_on_a_topic_newer_than_the_items_tags_gets_a_tag_at_once(db_url: str) -> None:
    ids = _seed(db_url)
    full = topics()
    older = replace(full, topics=tuple(t for t in full.topics if t.id != "terrorism"), cross_topics=())
    db = Database(db_url)
    with db.session() as session:
        tag_items(session, Classifier(older), [ids["convoy"]], now=datetime.now(UTC))
        add_label(session, full, ids["convoy"], "terrorism", True, now=datetime.now(UTC))
        add_label(session, full, ids["opec"], "terrorism", True, now=datetime.now(UTC))  # untagged: left to `tag`
    db.close()
    row = _tag(db_url, ids["convoy"], "terrorism")
    assert (row.passed, row.method, row.explanation["model_passed"]) == (True, LABEL_METHOD, None)
    db = Database(db_url)
    with db.session() as session:
        assert session.get(ItemTopic, (ids["opec"], "terrorism")) is None
        tag_items(session, Classifier(full), [ids["opec"]], now=datetime.now(UTC))
    db.close()
    later = _tag(db_url, ids["opec"], "terrorism")  # the rules alone say no: the label says yes
    assert (later.passed, later.method, later.explanation["model_passed"]) == (True, LABEL_METHOD, False)


def test_evaluate_warns_only_about_real_problems(tmp_path: Path) -> None:
    base = ["--config", str(_config(tmp_path)), "--db", f"sqlite:///{tmp_path}/e.sqlite"]
    clean = agg(*base, "evaluate", "--data", str(REPO / "tests" / "data" / "eval_dev.jsonl"))
    assert clean.returncode == 0 and "macro-F1" in clean.stdout, clean.stderr
    assert "warning" not in clean.stderr, clean.stderr

    odd = tmp_path / "odd.jsonl"
    records = [
        {"title": CONVOY[0], "text": CONVOY[1], "labels": ["cartels", "piracy"]},
        {"title": OPEC[0], "text": OPEC[1], "labels": []},
        {"title": GULF[0], "text": GULF[1], "labels": ["cartels"]},
    ]
    odd.write_text("".join(json.dumps(r) + "\n" for r in records))
    result = agg(*base, "evaluate", "--data", str(odd))
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert any("'piracy'" in w and "record #1" in w and "not in" in w and "ignored" in w for w in warnings), warnings
    assert any("'terrorism'" in w and "not measured" in w for w in warnings), warnings
    assert not any(w.rstrip().endswith(("cartels", "terrorism", "border_security")) for w in warnings), warnings
    assert "cartels" in result.stdout and "piracy" not in result.stdout
