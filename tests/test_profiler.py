"""spark.python.profile: tasks profiled in the workers, stats per RDD on the driver."""
import json

import pytest

from conftest import run_python

PROGRAM = """
import json, os, pstats, sys
from ember import SparkConf, SparkContext
conf = SparkConf().set("spark.python.profile", "true")
sc = SparkContext("local[2]", "profiled", conf=conf)

def heavy_work(x):
    return x * 2

rdd = sc.parallelize(range(100), 4).map(heavy_work)
assert rdd.collect() == [2 * x for x in range(100)]
sums = sc.parallelize(range(30), 3).map(lambda x: (x % 3, heavy_work(x))).reduceByKey(lambda a, b: a + b)
assert sorted(sums.collect()) == [(0, 270), (1, 290), (2, 310)]
sc.show_profiles()
print("--- shown again:")
sc.show_profiles()
print("--- end")
out = sys.argv[1]
sc.dump_profiles(out)
calls = {}
for name in sorted(os.listdir(out)):
    st = pstats.Stats(os.path.join(out, name))
    calls[name] = sum(v[1] for k, v in st.stats.items() if k[2] == "heavy_work")
print(json.dumps({"rdd": rdd.id(), "calls": calls}))
again = out + "-again"
sc.dump_profiles(again)
print(json.dumps(sorted(os.listdir(again)) if os.path.exists(again) else []))
sc.stop()
"""


def test_profiles_per_rdd(tmp_path):
    proc = run_python(PROGRAM.replace("sys.argv[1]", repr(str(tmp_path / "prof"))))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    shown = lines[:lines.index("--- shown again:")]
    again = lines[lines.index("--- shown again:") + 1:lines.index("--- end")]
    info = json.loads(lines[-2])
    assert f"Profile of RDD<id={info['rdd']}>" in shown
    assert sum(1 for line in shown if line.startswith("Profile of RDD<id=")) == 3  # rdd, map side, reduce side
    assert any("heavy_work" in line for line in shown)
    assert again == []  # each profile is shown once
    calls = info["calls"]
    assert calls[f"rdd_{info['rdd']}.pstats"] == 100  # every task's stats, added up
    assert sorted(calls.values()) == [0, 30, 100]
    assert json.loads(lines[-1]) == []  # dumped profiles are forgotten


def test_custom_profiler_and_dump_at_exit(tmp_path):
    out = tmp_path / "atexit"
    proc = run_python(f"""
from ember import SparkConf, SparkContext
from ember.profiler import BasicProfiler

class MyCustomProfiler(BasicProfiler):
    def show(self, id):
        print("My custom profiles for RDD:%s" % id)

conf = SparkConf().set("spark.python.profile", "true").set("spark.python.profile.dump", {str(out)!r})
sc = SparkContext("local[1]", "custom", conf=conf, profiler_cls=MyCustomProfiler)
print(sc.parallelize(range(1000)).map(lambda x: 2 * x).take(3))
print(sc.parallelize(range(1000)).count())
sc.show_profiles()
""")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[:2] == ["[0, 2, 4]", "1000"]
    ids = [int(line.rsplit(":", 1)[1]) for line in lines[2:]]
    assert len(ids) == 2 and lines[2].startswith("My custom profiles for RDD:")
    assert sorted(p.name for p in out.iterdir()) == sorted(f"rdd_{i}.pstats" for i in ids)


def test_profiles_need_the_setting(sc, tmp_path):
    for call in [sc.show_profiles, lambda: sc.dump_profiles(str(tmp_path))]:
        with pytest.raises(RuntimeError, match=r"^\[INCORRECT_CONF_FOR_PROFILE\] `spark.python.profile`"):
            call()
    assert sc.profiler_collector is None
    assert list(tmp_path.iterdir()) == []
