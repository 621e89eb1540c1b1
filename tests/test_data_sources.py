"""CSV, webdataset and image-folder sources on real files: decoding, ids, captions, bad samples."""

import csv
import io
import json
import os
import tarfile

import numpy as np
import pytest
import torch
from PIL import Image

from clipmem.data import CsvSource, ImageFolderZeroShot, SyntheticSource, WebDatasetSource
from clipmem.data.sources.images import decode_image, decode_many
from clipmem.data.sources.records import HASH_BASE, key_to_id
from clipmem.data.sources.tar_shards import expand_braces
from clipmem.data.sources.wds_stream import ShardStream, partition_counts, plan_batches
from clipmem.data.splits.miscaption import inject_miscaptions
from clipmem.data.table import ImageTextTable
from clipmem.errors import ConfigError

from .data_fixtures import write_image_folder, write_pairs

BAD = {3: "missing", 5: "corrupt", 8: "empty"}


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    return write_pairs(tmp_path_factory.mktemp("pairs"), 24)


@pytest.fixture(scope="module")
def bad_pairs(tmp_path_factory):
    return write_pairs(tmp_path_factory.mktemp("bad"), 12, bad=BAD)


def test_csv_and_webdataset_load_the_same_lossless_table(pairs):
    reference = SyntheticSource(num_samples=24, resolution=32).load()
    from_csv = CsvSource(path=str(pairs["csv"]), resolution=32).load()
    from_wds = WebDatasetSource(urls=str(pairs["shards"]), resolution=32).load()
    for table in (from_csv, from_wds):
        assert table.sample_ids.tolist() == list(range(24))
        assert torch.equal(table.images, reference.images)  # PNG round trip, no resize at the same side
        assert table.captions == [[c[0]] for c in reference.captions]  # txt and json.caption: one caption
        assert table.skipped == []
    assert from_wds.keys == [f"{i:09d}" for i in range(24)]
    assert from_csv.keys is None


def test_csv_relative_paths_resolve_against_the_csv_folder(pairs, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # elsewhere: paths in the file must not depend on the working directory
    assert len(CsvSource(path=str(pairs["csv"]), resolution=16).load()) == 24


def test_several_caption_columns_and_caption_separator(tmp_path, pairs):
    path = tmp_path / "multi.tsv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f, delimiter="\t")
        writer.writerow(["image", "title", "more", "uid"])
        writer.writerow([str(pairs["images"] / "0.png"), "a red circle", "red | round thing", "img-a"])
        writer.writerow([str(pairs["images"] / "1.png"), "a blue square", "", "17"])
    table = CsvSource(path=str(path), sep="\\t", image_key="image", caption_keys=["title", "more"],
                      caption_sep="|", id_key="uid", resolution=16).load()
    assert table.captions == [["a red circle", "red", "round thing"], ["a blue square"]]
    assert table.sample_ids[1] == 17 and table.sample_ids[0] == key_to_id("img-a") >= HASH_BASE
    assert table.keys == ["img-a", "17"]


def test_the_separator_is_detected_from_the_header(tmp_path, pairs):
    from clipmem.data.sources.csv_source import detect_sep

    image = str(pairs["images"] / "0.png")
    files = {"tab.tsv": f"filepath\ttitle\n{image}\ta red circle, small\n",  # a comma inside a caption
             "comma.csv": f"title,filepath\n\"a red\tcircle\",{image}\n",    # a tab inside a quoted caption
             "quoted.csv": f'"filepath","title"\n"{image}","a red circle"\n'}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    assert detect_sep(tmp_path / "tab.tsv", "filepath") == "\t"
    assert detect_sep(tmp_path / "comma.csv", "filepath") == ","
    assert detect_sep(tmp_path / "quoted.csv", "filepath") == ","
    assert CsvSource(path=str(tmp_path / "tab.tsv"), resolution=16).load().captions == [["a red circle, small"]]
    assert CsvSource(path=str(tmp_path / "comma.csv"), resolution=16).load().captions == [["a red\tcircle"]]
    with pytest.raises(ConfigError, match="no column 'filepath'"):  # a given separator is used as given
        CsvSource(path=str(tmp_path / "tab.tsv"), sep=",", resolution=16).load()


def test_key_to_id_is_stable_and_separates_numeric_from_hashed():
    assert key_to_id("000000123") == 123
    assert key_to_id("abc") == key_to_id("abc") != key_to_id("abd")
    assert HASH_BASE <= key_to_id("shard/abc") < 2**63


def test_brace_expansion_keeps_zero_padding():
    assert expand_braces("s/{00008..00010}.tar") == ["s/00008.tar", "s/00009.tar", "s/00010.tar"]
    assert expand_braces("{a,b}-{1..2}") == ["a-1", "a-2", "b-1", "b-2"]


def test_rgba_is_composited_on_white_and_non_square_is_centre_cropped(tmp_path):
    rgba = np.zeros((40, 80, 4), dtype=np.uint8)
    rgba[:, 30:50] = (255, 0, 0, 255)  # an opaque red band in the middle, transparent elsewhere
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    out = decode_image(tmp_path / "a.png", 20)
    assert out.shape == (3, 20, 20) and out.dtype == np.uint8
    assert tuple(out[:, 10, 0]) == (255, 255, 255)  # transparent -> white
    assert tuple(out[:, 10, 10]) == (255, 0, 0)  # the centre of the crop is the red band


@pytest.mark.parametrize(("row", "reason"), [(3, "image file not found"), (5, "cannot be decoded"),
                                              (8, "empty caption")])
def test_csv_error_names_file_row_and_reason(bad_pairs, row, reason):
    rows = list(csv.reader(bad_pairs["csv"].open()))
    path = bad_pairs["csv"].parent / f"one_bad_{row}.csv"  # the header, a good row, then the bad row
    with path.open("w", newline="") as f:
        csv.writer(f).writerows([rows[0], rows[1], rows[row + 1]])
    with pytest.raises(ConfigError) as err:
        CsvSource(path=str(path), resolution=16).load()
    message = str(err.value)
    assert str(path) in message and "row 1 (line 3)" in message and reason in message


def test_an_empty_image_file_is_named_as_empty(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("not an image")
    empty, text, raw = decode_many([tmp_path / "empty.png", tmp_path / "text.png", b""], 16, 1)
    assert empty == raw == "image file is empty (0 bytes)" and text.startswith("image cannot be decoded")
    (too_long,) = decode_many([tmp_path / ("x" * 5000 + ".png")], 16, 1)  # its size cannot be read either
    assert isinstance(too_long, str) and too_long.startswith("image")


def test_webdataset_error_names_shard_key_and_reason(bad_pairs):
    with pytest.raises(ConfigError) as err:
        WebDatasetSource(urls=str(bad_pairs["shards"]), resolution=16).load()
    message = str(err.value)
    assert "00000.tar" in message and "key '000000003'" in message and "no image member" in message


def test_missing_column_names_file_column_and_existing_columns(pairs):
    with pytest.raises(ConfigError) as err:
        CsvSource(path=str(pairs["csv"]), caption_keys="caption").load()
    message = str(err.value)
    assert str(pairs["csv"]) in message and "'caption'" in message and "['filepath', 'title', 'keywords']" in message


def test_skip_records_exactly_the_bad_samples(bad_pairs):
    for source in (CsvSource(path=str(bad_pairs["csv"]), resolution=16, on_bad_sample="skip"),
                   WebDatasetSource(urls=str(bad_pairs["shards"]), resolution=16, on_bad_sample="skip")):
        table = source.load()
        assert sorted(set(range(12)) - set(table.sample_ids.tolist())) == sorted(BAD)
        skipped = {int(r["sample_id"]): r["reason"] for r in table.skipped}
        assert sorted(skipped) == sorted(BAD)
        assert "empty caption" in skipped[8]


def test_duplicate_webdataset_keys_are_reported_not_merged(tmp_path, pairs):
    shard = tmp_path / "dup.tar"
    png = (pairs["images"] / "0.png").read_bytes()
    with tarfile.open(shard, "w") as tar:
        for name, blob in (("12.png", png), ("12.txt", b"a"), ("x.txt", b"b"), ("012.png", png), ("012.txt", b"c")):
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    table = WebDatasetSource(urls=str(shard), resolution=16, on_bad_sample="skip").load()
    assert table.sample_ids.tolist() == [12]
    reasons = sorted(r["reason"].split(" (")[0] for r in table.skipped)
    assert reasons == ["duplicate sample id 12", "no image member"]


def test_image_folder_zero_shot_with_classnames_and_bad_image(tmp_path):
    root = write_image_folder(tmp_path / "shapes", "shape", per_class=2, corrupt=1)
    with pytest.raises(ConfigError, match="broken0.jpg"):
        ImageFolderZeroShot(root=str(root), resolution=16).load()
    (tmp_path / "names.txt").write_text("\n".join(f"thing {i}" for i in range(8)))
    zs = ImageFolderZeroShot(root=str(root), classnames=str(tmp_path / "names.txt"), resolution=16,
                             on_bad_sample="skip", templates=["a {}"]).load()
    assert zs.images.shape == (16, 3, 16, 16) and zs.labels.tolist() == sorted(zs.labels.tolist())
    assert zs.classnames[0] == "thing 0" and zs.templates == ["a {}"]
    assert [r["row"] for r in zs.skipped] == [f"{sorted(p.name for p in root.iterdir())[0]}/broken0.jpg"]


def test_image_folder_class_names_from_a_json_map(tmp_path):
    root = write_image_folder(tmp_path / "shapes", "shape", per_class=1)
    folders = sorted(p.name for p in root.iterdir())  # folder names stand in for ImageNet's wnids
    mapping = {folder: f"n{i:08d} name" for i, folder in enumerate(folders)}
    (tmp_path / "map.json").write_text(json.dumps(mapping))
    zs = ImageFolderZeroShot(root=str(root), classnames=str(tmp_path / "map.json"), resolution=16).load()
    assert zs.classnames == [mapping[f] for f in folders]
    (tmp_path / "short.json").write_text(json.dumps({folders[0]: "only one"}))
    with pytest.raises(ConfigError, match=f"no class name for folders \\['{folders[1]}'"):
        ImageFolderZeroShot(root=str(root), classnames=str(tmp_path / "short.json"), resolution=16).load()


def _table_with_captions(captions: list[str]) -> ImageTextTable:
    n = len(captions)
    return ImageTextTable(sample_ids=torch.arange(n) * 10, images=torch.zeros(n, 3, 4, 4, dtype=torch.uint8),
                          captions=[[c] for c in captions])


def test_miscaptions_without_attributes_are_a_derangement_that_avoids_identical_captions():
    captions = [f"caption {i % 7}" for i in range(60)]  # groups of identical captions
    table = _table_with_captions(captions)
    out = inject_miscaptions(table, table.sample_ids.tolist(), 0.5, seed=3)
    chosen = out.miscaptioned.nonzero().flatten().tolist()
    assert len(chosen) == 30
    for p in chosen:
        assert int(out.caption_source[p]) != int(out.sample_ids[p])
        assert out.captions[p][0] != captions[p]  # not its own caption, nor an identical one
    assert sorted(out.caption_source[chosen].tolist()) == sorted(out.sample_ids[chosen].tolist())  # a permutation
    again = inject_miscaptions(table, table.sample_ids.tolist(), 0.5, seed=3)
    assert again.captions == out.captions


def test_miscaptions_impossible_when_all_chosen_captions_are_identical():
    table = _table_with_captions(["same"] * 10)
    with pytest.raises(ConfigError, match="could not exchange.*5 of them share one primary caption.*more than half"):
        inject_miscaptions(table, table.sample_ids.tolist(), 0.5, seed=0)


def test_decoded_image_cache_hits_and_follows_changes(tmp_path, pairs):
    cache = tmp_path / "cache"
    first = CsvSource(path=str(pairs["csv"]), resolution=16, cache_dir=str(cache)).load()
    files = sorted(cache.glob("decoded-*.pt"))
    assert len(files) == 1
    again = CsvSource(path=str(pairs["csv"]), resolution=16, cache_dir=str(cache)).load()
    assert torch.equal(again.images, first.images) and sorted(cache.glob("decoded-*.pt")) == files
    CsvSource(path=str(pairs["csv"]), resolution=20, cache_dir=str(cache)).load()  # another resolution: new entry
    wds = WebDatasetSource(urls=str(pairs["shards"]), resolution=16, cache_dir=str(cache))
    assert torch.equal(wds.load().images, first.images) and torch.equal(wds.load().images, first.images)
    assert len(list(cache.glob("decoded-*.pt"))) == 3
    image = pairs["images"] / "4.png"
    os.utime(image, ns=(image.stat().st_atime_ns, image.stat().st_mtime_ns + 10**9))  # "edited": a new entry
    CsvSource(path=str(pairs["csv"]), resolution=16, cache_dir=str(cache)).load()
    assert len(list(cache.glob("decoded-*.pt"))) == 4


def test_plan_gives_every_rank_the_same_number_of_batches():
    counts = np.array([[130, 10], [70, 64]])  # (ranks, workers) samples
    plan = plan_batches(counts, 32)
    assert plan.sum(axis=1).tolist() == [4, 4] and (plan <= counts // 32).all()
    assert plan_batches(counts, 32, total=2).sum(axis=1).tolist() == [2, 2]


def test_stream_splits_shards_across_ranks_and_serves_only_training_ids(pairs):
    source = WebDatasetSource(urls=str(pairs["shards"]), resolution=16, streaming=True)
    index = source.index()
    train = index.sample_ids[::2]  # a "role" training on every other pair
    plan = plan_batches(partition_counts(index.shard_of[::2], len(index.shards), 2, 1), 2)
    served = []
    for rank in (0, 1):
        stream = ShardStream(source, index.shards, train, plan, rank, 2, lambda texts: torch.zeros(len(texts), 4),
                             {0: ["swapped caption"]}, seed=0, shuffle_buffer=4)
        batches = list(stream)
        assert len(batches) == len(stream) == plan[rank].sum() == 3
        assert all(b["image"].shape == (2, 3, 16, 16) and b["image"].dtype == torch.uint8 for b in batches)
        served.append({i for b in batches for i in b["sample_id"].tolist()})
    assert not served[0] & served[1] and served[0] | served[1] <= set(train.tolist())
    assert {i // 12 for i in served[0]} == {0} and {i // 12 for i in served[1]} == {1}  # one shard per rank


def test_an_unquoted_separator_inside_a_caption_is_refused_or_counted_never_cut(pairs, tmp_path):
    """``img.png,a red, blue circle`` must not load as the caption "a red": one line naming the row, or (skip) the
    row left out and listed; the quoted form loads the whole caption."""
    rows = list(csv.reader(pairs["csv"].open()))
    folder = pairs["csv"].parent
    path = folder / "unquoted.csv"
    with path.open("w", newline="") as f:
        f.write("filepath,title\n")
        f.write(f"{rows[1][0]},a red circle\n")
        f.write(f"{rows[2][0]},a red, blue circle\n")
        f.write(f'{rows[3][0]},"a red, blue square"\n')
    with pytest.raises(ConfigError, match=r"row 1 \(line 3\): 3 fields where the header has 2: an unquoted ','"):
        CsvSource(path=str(path), resolution=16).load()
    table = CsvSource(path=str(path), resolution=16, on_bad_sample="skip").load()
    assert [c[0] for c in table.captions] == ["a red circle", "a red, blue square"]
    assert [r["row"] for r in table.skipped] == ["1"] and "unquoted" in table.skipped[0]["reason"]


def _png(pixels: np.ndarray, **save) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", **save)
    return buffer.getvalue()


def _write_both(folder, samples: list[tuple[bytes, str]]):
    """The same samples as a CSV with image files and as one webdataset shard."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "pairs.csv").open("w", newline="") as f, tarfile.open(folder / "00000.tar", "w") as tar:
        writer = csv.writer(f)
        writer.writerow(["filepath", "title"])
        for i, (data, caption) in enumerate(samples):
            (folder / f"{i}.png").write_bytes(data)
            writer.writerow([f"{i}.png", caption])
            for ext, blob in (("png", data), ("txt", caption.encode())):
                info = tarfile.TarInfo(f"{i:09d}.{ext}")
                info.size = len(blob)
                tar.addfile(info, io.BytesIO(blob))
    return folder / "pairs.csv", folder / "00000.tar"


def test_csv_and_webdataset_find_the_same_duplicates_on_decoded_pixels(tmp_path):
    """Two files with the same pixels but other bytes (compression level) and one caption are one duplicate in
    both formats, so both load the same table."""
    pixels = (np.indices((16, 16)).sum(0) * 8 % 256).astype(np.uint8)
    other = np.flipud(pixels).copy()
    samples = [(_png(pixels, compress_level=1), "a ramp"), (_png(pixels, compress_level=9), "a ramp"),
               (_png(other), "a flipped ramp")]
    assert samples[0][0] != samples[1][0]
    csv_path, shard = _write_both(tmp_path / "dup", samples)
    from_csv = CsvSource(path=str(csv_path), resolution=16, on_bad_sample="skip").load()
    from_wds = WebDatasetSource(urls=str(shard), resolution=16, on_bad_sample="skip").load()
    assert len(from_csv) == len(from_wds) == 2
    assert torch.equal(from_csv.images, from_wds.images) and from_csv.captions == from_wds.captions
    assert "exact duplicate" in from_csv.skipped[0]["reason"] and "exact duplicate" in from_wds.skipped[0]["reason"]


def test_a_repeated_csv_column_is_refused(tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_text("filepath,title,title\na.png,first,second\n")
    with pytest.raises(ConfigError, match=r"names column\(s\) \['title'\] more than once"):
        CsvSource(path=str(path)).load()


def test_a_repeated_tar_member_is_a_bad_sample_not_the_last_copy(tmp_path):
    data = _png(np.zeros((8, 8), dtype=np.uint8))
    shard = tmp_path / "00000.tar"
    with tarfile.open(shard, "w") as tar:
        for name, blob in (("000000000.png", data), ("000000000.txt", b"first"), ("000000000.txt", b"second"),
                           ("000000001.png", data), ("000000001.txt", b"fine")):
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    with pytest.raises(ConfigError, match=r"key '000000000': members 000000000.txt appear more than once"):
        WebDatasetSource(urls=str(shard), resolution=8).load()


def test_a_caption_of_zero_width_characters_is_empty(tmp_path):
    path = tmp_path / "pairs.csv"
    Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(tmp_path / "a.png")
    path.write_text("filepath,title\na.png,\u200b\u200d\ufeff \n", encoding="utf-8")
    with pytest.raises(ConfigError, match="empty caption"):
        CsvSource(path=str(path), resolution=8).load()


def test_sources_declare_their_features_and_an_undeclared_source_has_none():
    from clipmem.data import HFSource
    from clipmem.data.sources.base import SourceFeatures, features_of
    from clipmem.data.sources.prepared import PreparedCsvSource
    from clipmem.data.zeroshot.heldout import HeldOutProbe

    assert features_of(CsvSource(path="x.csv")) == SourceFeatures(decodes_files=True, csv_rows=True,
                                                                 image_locations=True)
    assert features_of(PreparedCsvSource).csv_rows and features_of(HFSource).decodes_files
    assert not features_of(HFSource).csv_rows and not features_of(WebDatasetSource).csv_rows
    assert features_of(HeldOutProbe()).builds_from_data
    assert features_of(SyntheticSource()) == SourceFeatures()  # renders in memory: nothing beyond load()
    assert features_of(object()) == SourceFeatures()
