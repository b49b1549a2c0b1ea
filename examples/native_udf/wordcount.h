/* wordcount.h — the word-count functions of wordcount.c beside it: the native
 * functions of the Python example (wordcount.py builds wordcount.c into a shared
 * library), linked into the C-only example (examples/c/wordcount.c) and into the
 * tests' library (tests/native/mixed.c). */
#ifndef EMBER_EXAMPLE_WORDCOUNT_H
#define EMBER_EXAMPLE_WORDCOUNT_H

#include <ember.h>

/* flatMap: a line (str) -> (word, 1) for each word, words split on ASCII whitespace as
 * Python's bytes.split() splits them. */
int tokenize(const ember_value *line, ember_writer *out);
/* merge (reduceByKey): two counts -> their sum. */
int add(const ember_value *a, const ember_value *b, ember_writer *out);

#endif
