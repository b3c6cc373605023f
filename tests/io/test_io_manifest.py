from synthbio.io.manifest import ManifestWriter, read_manifest, rewrite_manifest


def test_append_and_read(tmp_path):
    p = tmp_path / "manifest.jsonl"
    assert read_manifest(p).records == []
    with ManifestWriter(p) as m:
        m.append({"seed": 1, "files": {}})
        m.append({"seed": 2, "files": {}})
    with ManifestWriter(p) as m:  # reopening appends
        m.append({"seed": 3})
    c = read_manifest(p)
    assert [r["seed"] for r in c.records] == [1, 2, 3] and c.dropped_lines == 0


def test_partial_and_garbage_lines_are_dropped(tmp_path):
    p = tmp_path / "manifest.jsonl"
    with ManifestWriter(p) as m:
        m.append({"seed": 1})
    with open(p, "ab") as f:
        f.write(b"not json\n[1, 2]\n")
        f.write(b'{"seed": 2, "fil')  # a write cut short by a kill
    c = read_manifest(p)
    assert [r["seed"] for r in c.records] == [1] and c.dropped_lines == 3
    rewrite_manifest(p, c.records)
    assert p.read_bytes().count(b"\n") == 1
    assert read_manifest(p).dropped_lines == 0
