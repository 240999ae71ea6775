"""streamframe.sinks.community.file.LocalFileSink with Quix Streams' arguments: JSON lines per
topic partition named by the first offset, gzip, a Python dumps, append, and what is refused."""

import gzip
import json

import pytest

from streamframe.sinks.community.file import JSONFormat, LocalFileSink, ParquetFormat


def produce(app, topic, records):
    with app.get_producer() as producer:
        for key, value, timestamp in records:
            producer.produce(topic.name, value=json.dumps(value), key=key, timestamp=timestamp)


def test_json_lines_per_partition(embedded_app, name, tmp_path):
    app = embedded_app()
    topic = app.topic(name("in"))
    app.dataframe(topic).sink(LocalFileSink(directory=str(tmp_path)))
    produce(app, topic, [(b"a", {"x": 1}, 10), (b"b", {"x": 2}, 11)])
    app.run(count=2)
    files = list((tmp_path / topic.name.replace("-", "_") / "0").iterdir())
    assert [f.name for f in files] == ["0000000000000000000.jsonl"]
    lines = [json.loads(line) for line in files[0].read_text().splitlines()]
    assert lines == [{"_timestamp": 10, "_key": "a", "_value": {"x": 1}},
                     {"_timestamp": 11, "_key": "b", "_value": {"x": 2}}]


def test_gzip_and_python_dumps(embedded_app, name, tmp_path):
    app = embedded_app()
    topic = app.topic(name("in"))
    fmt = JSONFormat(compress=True, dumps=lambda obj: f"{obj['_key']}:{obj['_value']['x']}")
    assert fmt.file_extension == ".jsonl.gz"
    app.dataframe(topic).sink(LocalFileSink(directory=str(tmp_path), format=fmt, append=True))
    produce(app, topic, [(b"a", {"x": 1}, 10), (b"b", {"x": 2}, 11)])
    app.run(count=2)
    (path,) = (tmp_path / topic.name.replace("-", "_") / "0").iterdir()
    assert path.name.endswith(".jsonl.gz")
    assert gzip.decompress(path.read_bytes()).decode() == "a:1\nb:2\n"


def test_refused():
    with pytest.raises(NotImplementedError, match="JSON lines only"):
        LocalFileSink(format="parquet")
    with pytest.raises(NotImplementedError, match="Parquet"):
        ParquetFormat()
