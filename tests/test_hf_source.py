"""data=hf on locally made Hugging Face datasets (a save_to_disk folder, a DatasetDict, parquet files) and
shards read through webdataset URLs (pipe:, http on the loopback): the same pairs give the same table as
from the CSV; bad rows and unreachable data stop in one line. Nothing is downloaded."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading

import datasets
import pytest
import torch

from clipmem.data import CsvSource, HFSource, WebDatasetSource
from clipmem.errors import ConfigError

from .conftest import load_settings_for, run_script
from .data_fixtures import write_pairs


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    root = tmp_path_factory.mktemp("hf")
    files = write_pairs(root, 24)
    images = [str(files["images"] / f"{i}.png") for i in range(24)]
    reference = CsvSource(path=str(files["csv"]), resolution=32).load()
    data = datasets.Dataset.from_dict({"image": images, "caption": [c[0] for c in reference.captions],
                                       "more": [["other words"] if i % 2 else [] for i in range(24)],
                                       "uid": [f"{1000 + i}" for i in range(24)]})
    data = data.cast_column("image", datasets.Image())
    data.save_to_disk(str(root / "saved"))
    datasets.DatasetDict({"train": data, "test": data.select(range(4))}).save_to_disk(str(root / "dict"))
    data.select(range(12)).to_parquet(str(root / "part-0.parquet"))
    data.select(range(12, 24)).to_parquet(str(root / "part-1.parquet"))
    return {**files, "root": root, "reference": reference}


def test_a_saved_dataset_and_parquet_files_give_the_csv_table(pairs):
    reference, root = pairs["reference"], pairs["root"]
    for path in (root / "saved", root / "dict", str(root / "part-*.parquet")):
        table = HFSource(path=str(path), caption_keys="caption", resolution=32).load()
        assert table.sample_ids.tolist() == list(range(24)), path  # stable ids: the row index
        assert torch.equal(table.images, reference.images) and table.captions == reference.captions, path


def test_columns_ids_lists_of_captions_and_splits(pairs):
    root = pairs["root"]
    table = HFSource(path=str(root / "dict"), split="test", caption_keys=["caption", "more"], id_key="uid",
                     resolution=16).load()
    assert table.sample_ids.tolist() == [1000, 1001, 1002, 1003] and table.keys == ["1000", "1001", "1002", "1003"]
    assert table.captions[1] == [pairs["reference"].captions[1][0], "other words"] and len(table.captions[0]) == 1
    with pytest.raises(ConfigError, match=r"has no split 'validation'; it has \['train', 'test'\]"):
        HFSource(path=str(root / "dict"), split="validation", caption_keys="caption").load()
    with pytest.raises(ConfigError, match=r"no column\(s\) \['text'\].*the dataset has columns"):
        HFSource(path=str(root / "saved")).load()


def test_bad_rows_stop_or_are_skipped(pairs, tmp_path):
    data = datasets.Dataset.from_dict({"image": [str(pairs["images"] / "0.png"), None, str(pairs["images"] / "2.png")],
                                       "text": ["a caption", "no image", " "]})
    data.cast_column("image", datasets.Image()).save_to_disk(str(tmp_path / "bad"))
    with pytest.raises(ConfigError, match="bad sample at row 1: no image"):
        HFSource(path=str(tmp_path / "bad"), resolution=16).load()
    table = HFSource(path=str(tmp_path / "bad"), resolution=16, on_bad_sample="skip").load()
    assert table.sample_ids.tolist() == [0] and [r["reason"].split(" (")[0] for r in table.skipped] == [
        "no image", "empty caption"]


def test_a_hub_name_offline_is_one_line(tmp_path):
    done = run_script("train.py", "data=hf", "data.source.path=someone/no-such-pairs", "logger=none",
                      f"run_dir={tmp_path / 'run'}", timeout=180, env={"HF_HUB_OFFLINE": "1"})
    lines = [line for line in done.stderr.splitlines() if line.startswith("clipmem: error:")]
    assert done.returncode == 1 and len(lines) == 1, done.stderr[-2000:]
    assert "'someone/no-such-pairs' is not a local dataset and the Hugging Face hub did not give it" in lines[0]
    assert "save_to_disk('<folder>') and pass data.source.path=<folder>" in lines[0]


def test_data_hf_follows_the_model_size(pairs):
    settings = load_settings_for(["logger=none", "data=hf", f"data.source.path={pairs['root'] / 'saved'}"])
    assert isinstance(settings.data.source, HFSource) and settings.data.source.resolution == 32


def test_shards_through_pipe_and_http_urls(pairs, tmp_path):
    shards = pairs["root"] / "shards"
    local = WebDatasetSource(urls=str(pairs["shards"]), resolution=16).load()
    piped = WebDatasetSource(urls=f"pipe:cat {shards}/{{00000..00001}}.tar", resolution=16).load()
    assert torch.equal(piped.images, local.images) and piped.keys == local.keys
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(shards))
    handler.log_message = lambda *args: None
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            url = f"http://127.0.0.1:{server.server_address[1]}/{{00000..00001}}.tar"
            if shutil.which("curl"):  # webdataset reads http(s) with curl
                fetched = WebDatasetSource(urls=url, resolution=16).load()
                assert torch.equal(fetched.images, local.images) and fetched.keys == local.keys
        finally:
            server.shutdown()
    with pytest.raises(ConfigError, match=r"pipe:cat /no/such.tar: bad sample at the shard: cannot read the shard"):
        WebDatasetSource(urls="pipe:cat /no/such.tar", resolution=16).load()
    partly = WebDatasetSource(urls=[f"{shards}/00000.tar", f"pipe:head -c 20000 {shards}/00001.tar"], resolution=16,
                              on_bad_sample="skip").load()
    assert len(partly) < 24 and any(r["file"].startswith("pipe:head") and "truncated" in r["reason"]
                                    for r in partly.skipped)  # a cut-off download is caught like a cut-off file


def test_an_imagefolder_csv_json_and_cwd_relative_parquet_load_like_the_csv(pairs, tmp_path, monkeypatch):
    """The common local layouts of `datasets`: an imagefolder with metadata.csv or metadata.jsonl, CSV and JSON
    files of paths and captions, and parquet whose relative image paths are relative to the working directory (what
    Dataset.to_parquet stores when the paths were given so). A missing image is named with its path."""
    import json

    reference, images = pairs["reference"], pairs["images"]
    captions = [c[0] for c in reference.captions]
    folder = tmp_path / "folder"
    shutil.copytree(images, folder)
    with (folder / "metadata.csv").open("w") as f:
        f.write("file_name,text\n" + "".join(f'{i}.png,"{c}"\n' for i, c in enumerate(captions)))
    jsonl = tmp_path / "jsonl"
    shutil.copytree(images, jsonl)
    (jsonl / "metadata.jsonl").write_text("".join(json.dumps({"file_name": f"{i}.png", "text": c}) + "\n"
                                                  for i, c in enumerate(captions)))
    def pairs_of(table):  # (caption, pixels) of every pair, in a fixed order: imagefolder orders rows itself
        return sorted((c[0], image.numpy().tobytes()) for c, image in zip(table.captions, table.images, strict=True))

    for path in (folder, jsonl):
        table = HFSource(path=str(path), resolution=32).load()
        assert len(table) == 24 and pairs_of(table) == pairs_of(reference), path
    monkeypatch.chdir(pairs["root"])
    relative = datasets.Dataset.from_dict({"image": [f"images/{i}.png" for i in range(24)], "text": captions})
    relative.to_parquet(str(tmp_path / "relative.parquet"))
    relative.to_csv(str(tmp_path / "pairs.csv"))
    relative.to_json(str(tmp_path / "pairs.jsonl"))
    for name in ("relative.parquet", "pairs.csv", "pairs.jsonl"):
        table = HFSource(path=str(tmp_path / name), resolution=32).load()
        assert torch.equal(table.images, reference.images) and table.captions == reference.captions, name
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"image file not found.*images/0.png"):
        HFSource(path=str(tmp_path / "relative.parquet"), resolution=32).load()
