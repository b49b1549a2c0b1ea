"""Writes the fixtures of tests/test_formats.py with a real PySpark (run once, with
pyspark==4.3.0 and Java 17): python make_fixtures.py OUT_DIR, then copy the
directories the tests use here. ZStandardCodec fails in PySpark's wheel (Hadoop's
native library is missing), so there is no zstd fixture."""
import os, shutil, sys
from pyspark import SparkContext, SparkConf
out = sys.argv[1]
shutil.rmtree(out, ignore_errors=True); os.makedirs(out)
sc = SparkContext("local[2]", "fx", conf=SparkConf().set("spark.ui.enabled", "false"))
data = [{"a": 1}, (2, 3), None, "text", 4.5, [1, 2, 3], b"bytes", 10**20]
sc.parallelize(data, 2).saveAsPickleFile(out + "/pickle_b10")
sc.parallelize(range(100), 3).saveAsPickleFile(out + "/pickle_b3", 3)
sc.parallelize(range(50), 2).saveAsPickleFile(out + "/pickle_auto", 0)
sc.parallelize(range(5000), 1).saveAsPickleFile(out + "/pickle_big", 1)
lines = ["alpha", "beta gamma", "", "delta épsilon"]
for codec in ["GzipCodec", "BZip2Codec", "DefaultCodec", "ZStandardCodec", "Lz4Codec", "SnappyCodec"]:
    try:
        sc.parallelize(lines, 2).saveAsTextFile(out + "/text_" + codec, "org.apache.hadoop.io.compress." + codec)
        print("ok", codec)
    except Exception as e:
        print("FAIL", codec, str(e)[:300])
seqs = {
  "seq_str_int": [("a", 1), ("b", 2), ("c", -3)],
  "seq_int_str": [(1, "x"), (2, "y")],
  "seq_long": [(2**40, 2**62)],
  "seq_float_bool": [(1.5, True), (2.5, False)],
  "seq_bytes": [(bytearray(b"k\x00"), bytearray(b"\xffv"))],
  "seq_none": [(None, "v1"), (None, "v2")],
  "seq_str_float": [("pi", 3.14), ("e", 2.718)],
  "seq_big": [("key%d" % i, i) for i in range(3000)],
}
for name, d in seqs.items():
    try:
        sc.parallelize(d, 1).saveAsSequenceFile(out + "/" + name)
        print("ok", name)
    except Exception as e:
        print("FAIL", name, str(e)[:300])
try:
    sc.parallelize([("a", 1), ("b", 2)], 1).saveAsSequenceFile(out + "/seq_gzip", "org.apache.hadoop.io.compress.GzipCodec")
    print("ok seq_gzip")
except Exception as e:
    print("FAIL seq_gzip", str(e)[:300])
sc.stop()
