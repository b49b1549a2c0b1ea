"""Word count, the PySpark way: change the import and it runs on ember.

    python examples/wordcount.py [path] [master]

Prints the 10 most frequent words of the file (default: the bundled text).
"""
import os
import sys

from ember import SparkContext

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "data", "ember.txt")
    master = sys.argv[2] if len(sys.argv) > 2 else "local[*]"
    with SparkContext(master, "wordcount") as sc:
        counts = (sc.textFile(path)
                    .flatMap(lambda line: line.split())
                    .map(lambda w: (w, 1))
                    .reduceByKey(lambda a, b: a + b))
        for word, n in sorted(counts.collect(), key=lambda kv: (-kv[1], kv[0]))[:10]:
            print(f"{n:8d}  {word}")


if __name__ == "__main__":
    main()
