"""``photoatlas`` as a user runs it: real subprocesses, exit codes, the results document."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, TINY_MODEL, save_shape


def photoatlas(*args: str, cwd: Path | None = None, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "desktop_app", *args], capture_output=True, text=True,
                          cwd=cwd or ROOT, timeout=300, env={**os.environ}, **kw)


def test_analyze_writes_the_versioned_document_and_exits_0_with_skipped_files(tmp_path: Path) -> None:
    save_shape(tmp_path / "lib" / "a.jpg", "red", "circle")
    (tmp_path / "lib" / "bad.png").write_bytes(b"nope")
    (tmp_path / "lib" / "n.txt").write_text("a blue square")
    out = tmp_path / "r.json"
    run = photoatlas("analyze", str(tmp_path / "lib"), "--model", TINY_MODEL, "--cache-dir", str(tmp_path / "c"),
                     "--output", str(out), "--quiet")
    assert run.returncode == 0, run.stderr
    doc = json.loads(out.read_text())
    assert doc["schema"] == 2
    assert [(Path(i["path"]).name, i["kind"], i["status"]) for i in doc["items"]] == [
        ("a.jpg", "image", "ok"), ("n.txt", "text", "ok")]
    assert doc["skipped"] == [{"path": str(tmp_path / "lib" / "bad.png"),
                               "reason": "not an image, or an image format Pillow cannot read"}]
    assert doc["stats"]["embedded"] == 2 and doc["stats"]["from_cache"] == 0
    assert doc["model"]["dim"] == 64
    assert [p.name for p in tmp_path.glob("r.vectors*.npz")] == [doc["vectors_file"]]
    assert "bad.png" in run.stderr and "Traceback" not in run.stderr
    # Two items are one group, each at its own place on the map.
    assert [i["cluster"] for i in doc["items"]] == [0, 0]
    assert len({(i["x"], i["y"]) for i in doc["items"]}) == 2
    assert doc["clusters"][0]["size"] == 2 and doc["clusters"][0]["name"]


def test_embed_fills_the_cache_so_analyze_embeds_nothing(tmp_path: Path) -> None:
    save_shape(tmp_path / "lib" / "a.jpg", "red", "circle")
    common = ["--model", TINY_MODEL, "--cache-dir", str(tmp_path / "c"), "--quiet"]
    assert photoatlas("embed", str(tmp_path / "lib"), *common).returncode == 0
    run = photoatlas("analyze", str(tmp_path / "lib"), *common, "-o", str(tmp_path / "r.json"))
    assert "0 embedded, 1 from cache" in run.stdout


@pytest.mark.slow
def test_embed_on_a_local_ray_fills_the_cache_that_analyze_and_the_app_open(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    for i, colour in enumerate(["red", "green", "blue"]):
        save_shape(tmp_path / "lib" / f"{colour}.jpg", colour, "circle", seed=i)
    common = ["--model", TINY_MODEL, "--cache-dir", str(tmp_path / "c"), "--quiet"]
    # "--ray FOLDER": the folder is not taken for the cluster's address.
    run = photoatlas("embed", "--ray", str(tmp_path / "lib"), *common, "--ray-actors", "1")
    assert run.returncode == 0, run.stderr
    assert "3 items: 3 embedded" in run.stdout and "Traceback" not in run.stderr
    run = photoatlas("analyze", str(tmp_path / "lib"), *common, "-o", str(tmp_path / "r.json"))
    assert "0 embedded, 3 from cache" in run.stdout


def test_ray_without_the_cluster_extra_says_how_to_install_it_before_scanning(tmp_path: Path) -> None:
    fake = tmp_path / "no-ray" / "ray"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('No module named ray')\n")  # as if not installed
    save_shape(tmp_path / "lib" / "a.jpg", "red", "circle")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(fake.parent), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run([sys.executable, "-m", "desktop_app", "embed", str(tmp_path / "lib"), "--ray",
                          "--model", TINY_MODEL, "--cache-dir", str(tmp_path / "c")],
                         capture_output=True, text=True, cwd=ROOT, timeout=300, env=env)
    assert run.returncode == 2 and "pip install -e '.[cluster]'" in run.stderr
    assert "Traceback" not in run.stderr and "scan" not in run.stderr  # refused before any work


def test_ray_options_without_ray_and_a_bad_path_map_exit_2(tmp_path: Path) -> None:
    for args, message in ((["--path-map", "/a=/b"], "apply to --ray"), (["--ray", "--path-map", "/a"], "FROM=TO")):
        run = photoatlas("embed", str(tmp_path), "--model", TINY_MODEL, *args, "--quiet")
        assert run.returncode == 2 and message in run.stderr and "Traceback" not in run.stderr


def test_progress_bar_goes_to_stderr(tmp_path: Path) -> None:
    save_shape(tmp_path / "lib" / "a.jpg", "red", "circle")
    run = photoatlas("embed", str(tmp_path / "lib"), "--model", TINY_MODEL, "--cache-dir", str(tmp_path / "c"))
    assert "embed: 100%" in run.stderr and "embed:" not in run.stdout


@pytest.mark.parametrize("args, message", [
    (["analyze", "/no/such/folder"], "no such file or folder"),
    (["analyze", ".", "--batch-size", "0"], "must be at least 1"),
    (["analyze", ".", "--model", "nonsense"], "unknown model"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_arguments_exit_2_with_one_line(args: list[str], message: str) -> None:
    run = photoatlas(*args, "--quiet") if args[0] == "analyze" else photoatlas(*args)
    assert run.returncode == 2
    assert message in run.stderr and "Traceback" not in run.stderr


def test_offline_with_a_missing_model_says_what_to_do(tmp_path: Path) -> None:
    save_shape(tmp_path / "lib" / "a.jpg", "red", "circle")
    run = photoatlas("analyze", str(tmp_path / "lib"), "--offline", "--cache-dir", str(tmp_path / "c"), "--quiet")
    assert run.returncode == 1
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "not downloaded" in lines[0] and "local-dir:" in lines[0]


def test_unreadable_file_is_skipped_with_permission_denied(tmp_path: Path) -> None:
    save_shape(tmp_path / "lib" / "ok.jpg", "red", "circle")
    locked = save_shape(tmp_path / "lib" / "locked.jpg", "blue", "square")
    os.chmod(locked, 0)
    cmd = [sys.executable, "-m", "desktop_app", "analyze", str(tmp_path / "lib"), "--model", TINY_MODEL,
           "--cache-dir", str(tmp_path / "c"), "-o", str(tmp_path / "r.json"), "--quiet"]
    if os.geteuid() == 0:
        # Root reads any file; drop the capabilities that let it, so permissions apply as for a user.
        if not shutil.which("setpriv"):
            pytest.skip("running as root without util-linux setpriv: cannot make a file unreadable")
        caps = "-dac_override,-dac_read_search"
        cmd = ["setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}", *cmd]
    run = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert run.returncode == 0, run.stderr
    doc = json.loads((tmp_path / "r.json").read_text())
    assert [Path(i["path"]).name for i in doc["items"]] == ["ok.jpg"]
    assert doc["skipped"] == [{"path": str(locked), "reason": "permission denied"}]


def test_version_and_help() -> None:
    assert photoatlas("--version").stdout.startswith("photoatlas ")
    help_text = photoatlas("analyze", "--help").stdout
    for option in ("--model", "--device", "--batch-size", "--cache-dir", "--offline", "--quiet", "--output"):
        assert option in help_text


def _embed_cmd(lib: Path, cache: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "desktop_app", "embed", str(lib), "--model", TINY_MODEL,
            "--cache-dir", str(cache), "--quiet", *extra]


def test_two_processes_share_one_cache_without_corrupting_it(tmp_path: Path) -> None:
    for name in ("a", "b"):
        for i in range(24):
            save_shape(tmp_path / name / f"{i}.png", "red" if i % 2 else "blue", "circle", seed=i)
    procs = [subprocess.Popen(_embed_cmd(tmp_path / n, tmp_path / "c", "--batch-size", "2"),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for n in ("a", "b")]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        assert "moved it to" not in err
    # Whatever the interleaving, no work is lost and nothing is moved aside: a third run embeds nothing.
    assert [f.name for f in (tmp_path / "c").iterdir() if ".corrupt-" in f.name] == []
    run = photoatlas("embed", str(tmp_path / "a"), str(tmp_path / "b"), "--model", TINY_MODEL,
                     "--cache-dir", str(tmp_path / "c"), "--quiet")
    assert run.returncode == 0, run.stderr
    assert "0 embedded, 48 from cache" in run.stdout
    import sqlite3

    with sqlite3.connect(tmp_path / "c" / "embeddings.sqlite3") as conn:
        assert conn.execute("SELECT COUNT(*) FROM vectors").fetchone()[0] == 48


def test_a_killed_run_keeps_finished_batches_and_the_cache_stays_usable(tmp_path: Path) -> None:
    import signal
    import sqlite3
    import time

    for i in range(300):
        save_shape(tmp_path / "lib" / f"{i:03d}.png", "green", "square", px=400, seed=i)
    proc = subprocess.Popen(_embed_cmd(tmp_path / "lib", tmp_path / "c", "--batch-size", "4"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db = tmp_path / "c" / "embeddings.sqlite3"
    deadline = time.time() + 120
    stored = 0
    while time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
        if db.exists():
            try:
                with sqlite3.connect(db, timeout=1) as conn:
                    stored = conn.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]
            except sqlite3.Error:
                continue
            if stored >= 8:
                break
    assert proc.poll() is None, "embedding finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    run = photoatlas("embed", str(tmp_path / "lib"), "--model", TINY_MODEL, "--cache-dir", str(tmp_path / "c"),
                     "--quiet")
    assert run.returncode == 0 and "Traceback" not in run.stderr
    from_cache = int(run.stdout.split(" embedded, ")[1].split(" from cache")[0])
    assert from_cache >= 8


@pytest.fixture(scope="module")
def shapes_results(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A small library analysed once with K-Means k=3 through the CLI."""
    tmp = tmp_path_factory.mktemp("cli-shapes")
    for n in range(4):
        for colour, shape in (("red", "circle"), ("blue", "square"), ("green", "triangle")):
            save_shape(tmp / "lib" / f"{colour}-{shape}-{n}.png", colour, shape, seed=n)
    out = tmp / "r.json"
    run = photoatlas("analyze", str(tmp / "lib"), "--model", TINY_MODEL, "--cache-dir", str(tmp / "c"),
                     "-o", str(out), "--quiet", "--clusterer", "kmeans", "--k", "3", "--seed", "7")
    assert run.returncode == 0, run.stderr
    assert "3 groups" in run.stdout
    return out, tmp / "c"


def test_analyze_flags_shape_the_document(shapes_results) -> None:
    out, _ = shapes_results
    doc = json.loads(out.read_text())
    assert len(doc["clusters"]) == 3 and sorted(c["size"] for c in doc["clusters"]) == [4, 4, 4]
    assert doc["analysis"]["params"]["clusterer"]["k"] == 3 and doc["analysis"]["params"]["seed"] == 7
    for cluster in doc["clusters"]:  # each group is one colour-and-shape
        members = {Path(i["path"]).name.rsplit("-", 1)[0] for i in doc["items"] if i["cluster"] == cluster["id"]}
        assert len(members) == 1


def test_search_prints_the_best_matches_as_json(shapes_results) -> None:
    out, cache = shapes_results
    run = photoatlas("search", str(out), "a blue square", "--top", "4", "--json", "--cache-dir", str(cache))
    assert run.returncode == 0, run.stderr
    hits = json.loads(run.stdout)
    assert len(hits) == 4 and all("blue-square" in h["path"] for h in hits)
    assert hits == sorted(hits, key=lambda h: -h["score"])
    plain = photoatlas("search", str(out), "a green triangle", "--top", "1", "--cache-dir", str(cache))
    assert plain.returncode == 0 and "green-triangle" in plain.stdout


def test_similar_ranks_the_item_s_look_alikes(shapes_results) -> None:
    out, _ = shapes_results
    doc = json.loads(out.read_text())
    red = next(i["path"] for i in doc["items"] if "red-circle" in i["path"])
    run = photoatlas("similar", str(out), red, "--top", "3", "--json")
    hits = json.loads(run.stdout)
    assert run.returncode == 0 and red not in [h["path"] for h in hits]
    assert all("red-circle" in h["path"] for h in hits)


@pytest.mark.parametrize("args, message", [
    (["analyze", ".", "--clusterer", "hdbscan", "--k", "4"], "--k applies to kmeans and agglomerative"),
    (["analyze", ".", "--k", "auto", "--clusterer", "agglomerative"], "--k auto applies to kmeans only"),
    (["analyze", ".", "--reducer", "isomap"], "invalid choice"),
    (["analyze", ".", "--vocabulary", "/no/such/file"], "no such vocabulary file"),
    (["search", "/no/such.json", "cats"], "no such results document"),
])
def test_bad_analysis_arguments_exit_2(args: list[str], message: str) -> None:
    run = photoatlas(*args)
    assert run.returncode == 2 and message in run.stderr and "Traceback" not in run.stderr


def test_similar_with_an_unknown_path_exits_2(shapes_results) -> None:
    out, _ = shapes_results
    run = photoatlas("similar", str(out), "/not/analysed.jpg")
    assert run.returncode == 2 and "is not in" in run.stderr


def test_export_dry_run_then_export_and_undo_through_the_cli(shapes_results, tmp_path) -> None:
    out, _ = shapes_results
    dest = tmp_path / "sorted"
    dry = photoatlas("export", str(out), str(dest), "--dry-run")
    assert dry.returncode == 0 and dry.stdout.count(" -> ") == 12 and not dest.exists()
    run = photoatlas("export", str(out), str(dest), "--groups", "0,1", "--mode", "hardlink")
    assert run.returncode == 0, run.stderr
    assert "exported 8 files" in run.stdout and len(list(dest.glob("0*/*.png"))) == 8
    bad = photoatlas("export", str(out), str(dest), "--groups", "7")
    assert bad.returncode == 2 and "no group with id 7" in bad.stderr
    undo = photoatlas("undo", str(dest))
    assert undo.returncode == 0 and "reversed 8 files" in undo.stdout and not list(dest.glob("0*/*.png"))


# -- names from untrusted folders (issue 23) -------------------------------------------------------------------

def _run_bytes(*args: str | os.PathLike[str]) -> subprocess.CompletedProcess[bytes]:
    """``photoatlas`` with its output as the bytes it wrote (a terminal gets these)."""
    return subprocess.run([sys.executable, "-m", "desktop_app", *map(os.fspath, args)], capture_output=True,
                          cwd=ROOT, timeout=300, env={**os.environ})


def test_names_with_control_characters_or_stray_bytes_are_printed_escaped_on_one_line(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    save_shape(lib / "a.jpg", "red", "circle")
    title = "a\x1b]0;PWNED\x07b\x1b[2Jc\nskipped forged.jpg: fine.png"  # sets the title, clears the screen, forges
    (lib / title).write_bytes(b"not a picture")
    (lib / os.fsdecode(b"caf\xe9.png")).write_bytes(b"not a picture either")
    common = ["--model", TINY_MODEL, "--cache-dir", tmp_path / "c", "--quiet"]
    run = _run_bytes("embed", lib, *common)
    assert run.returncode == 0, run.stderr
    for stream in (run.stdout, run.stderr):
        assert b"\x1b" not in stream and b"\x07" not in stream
        stream.decode("utf-8")  # what is printed is UTF-8 (a stray byte is shown, not written)
    lines = run.stderr.decode().splitlines()
    assert lines == [f"  skipped {lib}/a\\x1b]0;PWNED\\x07b\\x1b[2Jc\\nskipped forged.jpg: fine.png: not an image, or "
                     "an image format Pillow cannot read",
                     f"  skipped {lib}/caf\\xe9.png: not an image, or an image format Pillow cannot read"]
    # --json: ASCII with escapes, which read back as the exact names.
    doc = tmp_path / "r.json"
    run = _run_bytes("analyze", lib, *common, "-o", doc, "--json")
    assert run.returncode == 0, run.stderr
    assert run.stdout.isascii()
    assert {os.fsencode(s["path"]) for s in json.loads(run.stdout)["skipped"]} == {
        os.fsencode(lib / title), os.fsencode(lib) + b"/caf\xe9.png"}


def test_an_error_quoting_a_name_is_one_escaped_line(tmp_path: Path) -> None:
    run = _run_bytes("export", tmp_path / "x\x1b[2J\nphotoatlas: done.json", tmp_path / "dest")
    assert run.returncode == 2 and b"\x1b" not in run.stderr
    assert run.stderr.decode().splitlines() == [
        f"photoatlas: error: no such results document: {tmp_path}/x\\x1b[2J\\nphotoatlas: done.json"]


LATIN1_NAME = b"caf\xe9.jpg"  # written by an older camera or a Latin-1 system: not UTF-8


def _names_in(folder: Path) -> set[bytes]:
    return set(os.listdir(os.fsencode(folder)))


def test_a_name_that_is_not_utf8_stays_byte_exact_through_analyze_export_and_undo(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    for n in range(3):
        save_shape(lib / f"red-circle-{n}.jpg", "red", "circle", seed=n)
    picture = save_shape(lib / os.fsdecode(LATIN1_NAME), "red", "circle", seed=9)
    content = picture.read_bytes()
    doc = tmp_path / "r.json"
    run = _run_bytes("analyze", lib, "--model", TINY_MODEL, "--cache-dir", tmp_path / "c", "-o", doc, "--quiet",
                     "--clusterer", "kmeans", "--k", "2")
    assert run.returncode == 0, run.stderr
    assert b"4 items: 4 embedded" in run.stdout
    # The document is valid UTF-8 JSON and names the file by its exact bytes (a \udce9 escape).
    items = json.loads(doc.read_bytes().decode("utf-8"))["items"]
    assert os.fsencode(lib) + b"/" + LATIN1_NAME in {os.fsencode(i["path"]) for i in items}
    again = _run_bytes("analyze", lib, "--model", TINY_MODEL, "--cache-dir", tmp_path / "c", "-o", doc, "--quiet",
                       "--clusterer", "kmeans", "--k", "2")
    assert b"0 embedded, 4 from cache" in again.stdout  # the cache found it by its name
    dest = tmp_path / "sorted"
    run = _run_bytes("export", doc, dest, "--mode", "move", "--quiet")
    assert run.returncode == 0, run.stderr
    assert LATIN1_NAME not in _names_in(lib)  # moved: its copy in DEST has a name every file system takes
    exported = json.loads((dest / "groups.json").read_bytes().decode("utf-8"))
    (row,) = [r for r in exported if os.fsencode(r["original_path"]) == os.fsencode(picture)]
    assert Path(row["exported_path"]).read_bytes() == content
    run = _run_bytes("undo", dest, "--quiet")
    assert run.returncode == 0, run.stderr
    assert LATIN1_NAME in _names_in(lib) and picture.read_bytes() == content  # back under its own bytes


def test_the_decoding_limits_are_options_of_the_command_line(tmp_path: Path) -> None:
    """--decode-memory reaches the sandbox: a picture that needs far more (a 9000 x 9000 PNG of a few hundred KB,
    324 MB to decode) is skipped with the limit in its reason, and the good picture beside it is embedded."""
    from bombs import zero_png

    lib = tmp_path / "lib"
    save_shape(lib / "good.jpg", "red", "circle")
    (lib / "bomb.png").write_bytes(zero_png(9000, 9000))
    run = photoatlas(*_embed_cmd(lib, tmp_path / "c", "--decode-memory", "128", "--decode-seconds", "60")[3:])
    assert run.returncode == 0, run.stderr
    assert "bomb.png: needs more than 128 MB to decode" in run.stdout + run.stderr
    assert "1 embedded" in run.stdout
