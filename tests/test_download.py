"""The first launch's model download, end to end against a hub stand-in on localhost (tests/fixtures/hub_server.py):
the CLI's progress bar, the standard Hugging Face cache, no request once cached, a dropped connection resumed,
a 500 or a full disk as one line with nothing half-written trusted later, Cancel, and proxies."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, TINY_MODEL_DIR, save_shape
from hub_fixture import hub, hub_in_process  # noqa: F401 (pytest fixtures)
from hub_server import COMMIT, Hub, hub_cache, serve_hub, serve_proxy

from desktop_app.core.embedding.embed import DEFAULT_MODEL, ModelSpec, pretrained_weights, resolve_model
from desktop_app.core.errors import Cancelled, ModelUnavailable

REPO = "photoatlas-tests/tiny-clip"
WEIGHTS = "open_clip_model.safetensors"
TINY = f"hf-hub:{REPO}"
CHUNK = 256 * 1024  # embed._DOWNLOAD_CHUNK: the size of the pieces huggingface_hub hands to the progress bar


def sha256(data: bytes | Path) -> str:
    return hashlib.sha256(data.read_bytes() if isinstance(data, Path) else data).hexdigest()


def photoatlas(env: dict[str, str], *args: str, fsize_limit: int | None = None) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a child; ``fsize_limit`` makes every write past that many bytes fail like a full disk."""
    if fsize_limit is None:
        cmd = [sys.executable, "-m", "desktop_app", *args]
    else:
        limiter = ("import resource, signal, runpy, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
                   f"resource.setrlimit(resource.RLIMIT_FSIZE, ({fsize_limit}, {fsize_limit})); "
                   "sys.argv = ['photoatlas', *sys.argv[1:]]; runpy.run_module('desktop_app', run_name='__main__')")
        cmd = [sys.executable, "-c", limiter, *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300, env=env)


def resolve_in_child(env: dict[str, str], model: str) -> subprocess.CompletedProcess[str]:
    """resolve_model (the download step, no torch) in a fresh process, so it reads the proxy settings anew."""
    code = ("import sys; from desktop_app.core.embedding.embed import ModelSpec, resolve_model; "
            "from desktop_app.core.errors import ModelUnavailable\n"
            "try:\n    print(resolve_model(ModelSpec.parse(sys.argv[1])).key)\n"
            "except ModelUnavailable as exc:\n    sys.exit(exc.user_message)")
    return subprocess.run([sys.executable, "-c", code, model], capture_output=True, text=True, cwd=ROOT,
                          timeout=120, env=env)


def cached_weights(repo: str = REPO, filename: str = WEIGHTS) -> str | None:
    """What a later run would take from the Hugging Face cache for ``filename`` (None: it would download)."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo, filename, cache_dir=Path(os.environ["HF_HOME"]) / "hub")
    return found if isinstance(found, str) else None


def test_an_hf_hub_model_downloads_with_a_progress_bar_into_the_hf_cache_and_then_needs_no_request(
        hub: Hub, tmp_path: Path) -> None:  # noqa: F811 (the fixture)
    hub.add_folder(REPO, TINY_MODEL_DIR)
    save_shape(tmp_path / "lib" / "a.jpg", "red", "circle")
    env = hub.env(os.environ)
    run = photoatlas(env, "embed", str(tmp_path / "lib"), "--model", TINY, "--cache-dir", str(tmp_path / "c"))
    assert run.returncode == 0, run.stderr
    assert "download: 100%" in run.stderr and "1 embedded" in run.stdout
    # The standard cache layout, so other tools (and open_clip) share the file.
    snapshot = hub_cache(os.environ["HF_HOME"], REPO) / "snapshots" / COMMIT
    assert sha256(snapshot / WEIGHTS) == sha256(TINY_MODEL_DIR / WEIGHTS)
    assert (snapshot / "open_clip_config.json").is_file()
    assert len(hub.gets(WEIGHTS)) == 1
    # Second run, online and with a fresh vector cache: the model comes from the HF cache without one request.
    hub.requests.clear()
    run = photoatlas(env, "embed", str(tmp_path / "lib"), "--model", TINY, "--cache-dir", str(tmp_path / "c2"))
    assert run.returncode == 0, run.stderr
    assert "1 embedded" in run.stdout and hub.requests == []


def test_the_default_model_fetches_its_weights_from_the_tags_hub_repo_with_progress(
        hub_in_process: Hub) -> None:  # noqa: F811
    spec = ModelSpec.parse(DEFAULT_MODEL)
    repo, names, _ = pretrained_weights(spec)
    data = os.urandom(12 * CHUNK + 1000)  # a stand-in for the weights: the download is what is tested here
    hub_in_process.add(repo, names[-1], data)
    seen: list[tuple[int, int | None]] = []
    resolved = resolve_model(spec, on_bytes=lambda done, total: seen.append((done, total)))
    weights = Path(resolved.identity["weights_file"])
    assert weights.is_relative_to(Path(os.environ["HF_HOME"]) / "hub") and sha256(weights) == sha256(data)
    # Progress in steps, growing, ending at the full size.
    assert len(seen) >= 12 and seen[-1] == (len(data), len(data))
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    hub_in_process.requests.clear()
    assert resolve_model(spec).key == resolved.key and hub_in_process.requests == []


def test_the_cli_shows_the_default_models_download_then_reports_weights_it_cannot_load(
        hub: Hub, tmp_path: Path) -> None:  # noqa: F811
    repo, names, _ = pretrained_weights(ModelSpec.parse(DEFAULT_MODEL))
    data = os.urandom(8 * CHUNK)  # not weights: the download is what is tested, loading then fails cleanly
    hub.add(repo, names[0], data)
    save_shape(tmp_path / "lib" / "a.jpg", "red", "circle")
    run = photoatlas(hub.env(os.environ), "embed", str(tmp_path / "lib"), "--cache-dir", str(tmp_path / "c"))
    assert "download: 100%" in run.stderr and "Traceback" not in run.stderr
    assert run.returncode == 1 and f"photoatlas: error: cannot load model {DEFAULT_MODEL}" in run.stderr
    snapshot = hub_cache(os.environ["HF_HOME"], repo) / "snapshots" / COMMIT
    assert sha256(snapshot / names[0]) == sha256(data)


def test_a_connection_dropped_halfway_resumes_without_fetching_again_what_arrived(
        hub_in_process: Hub) -> None:  # noqa: F811
    hub_in_process.add_folder(REPO, TINY_MODEL_DIR)
    size = (TINY_MODEL_DIR / WEIGHTS).stat().st_size
    hub_in_process.drop_after(WEIGHTS, 4 * CHUNK)  # whole pieces, so everything sent has reached the file
    resolved = resolve_model(ModelSpec.parse(TINY))
    gets = hub_in_process.gets(WEIGHTS)
    assert [g.range_start for g in gets] == [None, 4 * CHUNK]
    assert hub_in_process.bytes_sent[WEIGHTS] == size  # nothing was sent twice
    assert sha256(Path(resolved.identity["weights_file"])) == sha256(TINY_MODEL_DIR / WEIGHTS)


def test_a_server_error_is_one_clear_message_and_nothing_is_kept(hub_in_process: Hub) -> None:  # noqa: F811
    hub_in_process.add_folder(REPO, TINY_MODEL_DIR)
    hub_in_process.fail(WEIGHTS, 500)
    with pytest.raises(ModelUnavailable, match=r"answered HTTP 500; nothing was kept, try again later"):
        resolve_model(ModelSpec.parse(TINY))
    assert cached_weights() is None
    resolve_model(ModelSpec.parse(TINY))  # the next try downloads it
    assert cached_weights() is not None


def test_one_server_error_on_the_first_look_up_is_retried(hub_in_process: Hub) -> None:  # noqa: F811
    hub_in_process.add_folder(REPO, TINY_MODEL_DIR)
    hub_in_process.fail(WEIGHTS, 500, method="HEAD")
    resolve_model(ModelSpec.parse(TINY))
    assert cached_weights() is not None
    heads = [r for r in hub_in_process.requests if r.method == "HEAD" and r.path.endswith(f"/{WEIGHTS}")]
    assert len(heads) == 2 and len(hub_in_process.gets(WEIGHTS)) == 1


def test_a_500_in_the_cli_is_one_line_and_a_later_run_succeeds(hub: Hub, tmp_path: Path) -> None:  # noqa: F811
    hub.add_folder(REPO, TINY_MODEL_DIR)
    hub.fail(WEIGHTS, 500)
    save_shape(tmp_path / "lib" / "a.jpg", "red", "circle")
    args = ("embed", str(tmp_path / "lib"), "--model", TINY, "--cache-dir", str(tmp_path / "c"), "--quiet")
    run = photoatlas(hub.env(os.environ), *args)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert run.stderr.strip().splitlines() == [
        f"photoatlas: error: model {TINY} could not be downloaded: {hub.url.split('//')[1]} answered HTTP 500; "
        "nothing was kept, try again later"]
    assert cached_weights() is None
    assert photoatlas(hub.env(os.environ), *args).returncode == 0


def test_a_full_disk_is_one_line_and_leaves_no_half_file(hub: Hub, tmp_path: Path) -> None:  # noqa: F811
    hub.add_folder(REPO, TINY_MODEL_DIR)
    save_shape(tmp_path / "lib" / "a.jpg", "red", "circle")
    run = photoatlas(hub.env(os.environ), "embed", str(tmp_path / "lib"), "--model", TINY,
                     "--cache-dir", str(tmp_path / "c"), "--quiet", fsize_limit=1 << 20)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert run.stderr.strip().splitlines() == [
        f"photoatlas: error: model {TINY} could not be saved: File too large in the Hugging Face cache "
        f"({Path(os.environ['HF_HOME']) / 'hub'}); free some space and try again"]
    assert cached_weights() is None
    blobs = hub_cache(os.environ["HF_HOME"], REPO) / "blobs"
    assert not (blobs / sha256(TINY_MODEL_DIR / WEIGHTS)).exists()


def test_cancel_stops_the_download_at_the_next_piece_while_the_server_still_has_bytes_to_send(
        hub_in_process: Hub) -> None:  # noqa: F811
    from desktop_app.core.progress import CancelToken

    hub_in_process.add_folder(REPO, TINY_MODEL_DIR)
    size = (TINY_MODEL_DIR / WEIGHTS).stat().st_size
    release = hub_in_process.pause_after(WEIGHTS, 2 * CHUNK)  # the rest only comes when the test lets it
    token = CancelToken()

    def on_bytes(done: int, total: int | None) -> None:
        token.cancel()  # the user presses Cancel as soon as the first bytes show
        token.raise_if_cancelled()

    with pytest.raises(Cancelled):
        resolve_model(ModelSpec.parse(TINY), on_bytes=on_bytes)
    assert not release.is_set() and hub_in_process.bytes_sent[WEIGHTS] <= 2 * CHUNK < size
    assert cached_weights() is None
    blobs = hub_cache(os.environ["HF_HOME"], REPO) / "blobs"
    assert not [p for p in blobs.iterdir() if p.name.endswith(".incomplete")]
    release.set()
    resolve_model(ModelSpec.parse(TINY))  # nothing was left locked: the next try downloads it
    assert cached_weights() is not None


def test_cancel_during_the_first_analysis_stops_the_download_itself(hub_in_process: Hub,  # noqa: F811
                                                                    tmp_path: Path) -> None:
    """Cancel in the window (or Ctrl+C) while the model downloads: the job ends, and so does the download thread
    behind it — at its next piece, keeping nothing — instead of fetching 600 MB for nobody."""
    import threading

    from desktop_app.core.embedding.pipeline import EmbedSettings, run_embedding
    from desktop_app.core.progress import CancelToken, drive

    hub_in_process.add_folder(REPO, TINY_MODEL_DIR)
    release = hub_in_process.pause_after(WEIGHTS, 2 * CHUNK)
    save_shape(tmp_path / "lib" / "a.jpg", "red", "circle")
    token = CancelToken()

    def on_event(event) -> None:
        if event.stage == "download":
            token.cancel()  # the user presses Cancel as soon as the download shows

    with pytest.raises(Cancelled):
        drive(run_embedding([tmp_path / "lib"], EmbedSettings(model=TINY, cache_dir=tmp_path / "c"), token),
              on_event)
    fetching = [t for t in threading.enumerate() if t.name == "photoatlas-model-fetch"]
    release.set()  # the line comes back: a download nobody stopped would now run to its end
    for thread in fetching:
        thread.join(60)
        assert not thread.is_alive()
    assert cached_weights() is None


def test_a_missing_repository_or_file_is_one_line_naming_it(hub_in_process: Hub) -> None:  # noqa: F811
    with pytest.raises(ModelUnavailable, match=r"^model hf-hub:nobody/nothing: no such repository on 127"):
        resolve_model(ModelSpec.parse("hf-hub:nobody/nothing"))
    hub_in_process.add(REPO, "open_clip_config.json", (TINY_MODEL_DIR / "open_clip_config.json").read_bytes())
    with pytest.raises(ModelUnavailable, match=r"has no open_clip_model\.safetensors or open_clip_pytorch_model\.bin$"):
        resolve_model(ModelSpec.parse(TINY))


def test_the_download_goes_through_the_proxy_from_the_environment(tmp_path: Path) -> None:
    # A host name only the proxy can resolve: without the proxy the download cannot even start.
    names = {"hub.photoatlas.invalid": "127.0.0.1", "cdn.photoatlas.invalid": "127.0.0.1"}
    with serve_hub(*names) as remote, serve_proxy(names) as (proxy, forwarded):
        remote.add_folder(REPO, TINY_MODEL_DIR)
        run = resolve_in_child(remote.env(os.environ, HTTP_PROXY=proxy), TINY)
        assert run.returncode == 0, run.stderr
        assert any(url.startswith(f"{remote.cdn_url}/cdn/") for url in forwarded)
        assert len(forwarded) == len(remote.requests) > 0


def test_no_proxy_sends_the_download_direct(hub: Hub) -> None:  # noqa: F811
    hub.add_folder(REPO, TINY_MODEL_DIR)
    with serve_proxy() as (proxy, forwarded):
        run = resolve_in_child(hub.env(os.environ, HTTP_PROXY=proxy, NO_PROXY="127.0.0.1,localhost"), TINY)
        assert run.returncode == 0, run.stderr
        assert forwarded == [] and len(hub.gets(WEIGHTS)) == 1


def test_an_unreachable_hub_says_offline(tmp_path: Path) -> None:
    with serve_hub() as gone:
        env = gone.env(os.environ)
    run = resolve_in_child(env, TINY)  # the server is gone: connection refused
    host = gone.url.split("//")[1]
    assert run.returncode == 1 and f"is not downloaded and PhotoAtlas is offline (or cannot reach {host})" in run.stderr


def test_a_dead_proxy_is_named_in_the_offline_message(hub: Hub) -> None:  # noqa: F811
    hub.add_folder(REPO, TINY_MODEL_DIR)
    with serve_proxy() as (proxy, _):
        pass  # gone: nothing listens there any more
    run = resolve_in_child(hub.env(os.environ, HTTP_PROXY=proxy), TINY)
    assert run.returncode == 1 and f"cannot reach {hub.url.split('//')[1]} through the proxy {proxy}" in run.stderr
    assert hub.requests == []


def test_a_line_that_keeps_dropping_is_one_clear_message_and_nothing_is_kept(hub_in_process: Hub) -> None:  # noqa: F811
    hub_in_process.add_folder(REPO, TINY_MODEL_DIR)
    hub_in_process.drop_after(WEIGHTS, 0, times=100)  # every GET ends before its first byte
    with pytest.raises(ModelUnavailable, match=r"the connection to 127\.0\.0\.1:\d+ kept dropping; try again"):
        resolve_model(ModelSpec.parse(TINY))
    assert cached_weights() is None
    blobs = hub_cache(os.environ["HF_HOME"], REPO) / "blobs"
    assert not [p for p in blobs.iterdir() if p.name.endswith(".incomplete")]
