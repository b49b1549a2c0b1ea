"""Word count with native functions: a C tokenizer and a C counter applied to a
Python RDD (the C functions run in the workers).

    python examples/native_udf/wordcount.py [path] [master]

Compiles wordcount.c next to this file with the system compiler (ember.native.compile)
and prints the 10 most frequent words of the file (default: the bundled text), as
examples/wordcount.py does with Python lambdas.
"""
import os
import sys

from ember import SparkContext, native

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "data", "ember.txt")
    master = sys.argv[2] if len(sys.argv) > 2 else "local[*]"
    lib = native.compile(os.path.join(HERE, "wordcount.c"))
    with SparkContext(master, "native wordcount") as sc:
        counts = (sc.textFile(path)
                    .flatMapNative(lib, "tokenize")
                    .reduceByKey(native.merge(lib, "add")))
        for word, n in sorted(counts.collect(), key=lambda kv: (-kv[1], kv[0]))[:10]:
            print(f"{n:8d}  {word}")


if __name__ == "__main__":
    main()
