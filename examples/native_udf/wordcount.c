/* wordcount.c — a tokenizer and a counter built against ember.h (declared in
 * wordcount.h): the native functions of wordcount.py beside it (ember.native.compile
 * builds this file into a shared library), of the C-only example examples/c/wordcount.c
 * (linked in) and of the tests' library tests/native/mixed.c.
 *
 *   tokenize  flatMap: a line (str) -> (word, 1) for each word, words split on ASCII
 *             whitespace as bytes.split() splits them
 *   add       merge (reduceByKey): two counts -> their sum
 */
#include "wordcount.h"

static int is_space(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

int tokenize(const ember_value *line, ember_writer *out) {
    if (line->type != EMBER_STR)
        return ember_set_error(EMBER_EINVAL, "tokenize: expected a line (str), got %s", ember_type_name(line->type));
    const unsigned char *s = line->data, *end = s + line->len;
    while (s < end) {
        while (s < end && is_space(*s))
            s++;
        const unsigned char *w = s;
        while (s < end && !is_space(*s))
            s++;
        if (s > w) {
            ember_put_tuple(out, 2);
            ember_put_str(out, (const char *)w, (size_t)(s - w));
            ember_put_int(out, 1);
        }
    }
    return out->err;
}

int add(const ember_value *a, const ember_value *b, ember_writer *out) {
    if (a->type != EMBER_INT || b->type != EMBER_INT)
        return ember_set_error(EMBER_EINVAL, "add: expected two ints, got %s and %s", ember_type_name(a->type),
                               ember_type_name(b->type));
    return ember_put_int(out, a->i + b->i);
}
