"""`label --suggest`: the items whose labels would teach the classifier most, topics and languages taking turns."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

from aggregator.classify.suggest import suggest_labels
from aggregator.models import Label
from aggregator.store.database import Database
from tests.digestdata import REPO, add_item, add_source, utc
from tests.test_cli import agg


def _fill(db: Database) -> dict[str, int]:
    with db.session() as session:
        add_source(session, "wire")
        seen = utc(2026, 11, 20, 12)
        ids = {
            "near": add_item(session, "wire", "Convoy attacked near Culiacán", "x", seen=seen, tags={"cartels": 0.52}),
            "sure": add_item(session, "wire", "Cartel leader extradited", "x", seen=seen, tags={"cartels": 0.97}),
            "off": add_item(session, "wire", "Festival line-up announced", "x", seen=seen, tags={"cartels": 0.03}),
            "terror": add_item(session, "wire", "Blast near a checkpoint", "x", seen=seen, tags={"terrorism": 0.46}),
            "es": add_item(session, "wire", "Enfrentamiento en Apatzingán", "x", seen=seen, language="es",
                           tags={"cartels": 0.40}),
            "asked": add_item(session, "wire", "Already answered", "x", seen=seen, tags={"cartels": 0.50}),
        }  # fmt: skip
        session.add(Label(item_id=ids["asked"], topic="cartels", value=False, created_at=datetime.now(UTC)))
    return ids


def test_the_least_sure_come_first_and_answered_ones_never(db: Database) -> None:
    ids = _fill(db)
    with db.session() as session:
        found = suggest_labels(session, ["cartels", "terrorism"], 3)
    assert [s.item_id for s in found] == [ids["near"], ids["terror"], ids["es"]]  # margins 0.02, 0.04, 0.10
    assert {s.language for s in found} == {"en", "es"}  # the Spanish bucket gets its turn
    with db.session() as session:
        everything = suggest_labels(session, ["cartels", "terrorism"], 50)
    assert ids["asked"] not in {s.item_id for s in everything}
    assert len(everything) == 5 and everything[-1].item_id in (ids["sure"], ids["off"])


def test_the_command_lists_them_and_says_how_to_answer(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.sqlite'}"
    db = Database(url)
    ids = _fill(db)
    db.close()
    config = tmp_path / "config"
    config.mkdir()
    shutil.copy(REPO / "config" / "topics.toml", config / "topics.toml")
    (config / "sources.toml").write_text("", encoding="utf-8")
    (config / "settings.toml").write_text(f'data_dir = "{tmp_path / "data"}"\n', encoding="utf-8")
    result = agg("--config", str(config), "--db", url, "label", "--suggest", "2", "--topic", "cartels")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[2].split()[0] == str(ids["near"]) and lines[3].split()[0] == str(ids["es"])
    assert f"aggregator label {ids['near']} --topic cartels --yes" in result.stdout
    bare = agg("--config", str(config), "--db", url, "label")
    assert bare.returncode == 2 and "--suggest N" in bare.stderr
