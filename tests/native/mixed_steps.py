"""Python steps of the C program tests/native/driver.c (ember_node_python): the
workers import this module from the pythonpath the program gives its context."""


def upper_pair(pair):
    """map: (word, n) -> (WORD, n)"""
    word, n = pair
    return (word.upper(), n)


def at_least_two(pair):
    """filter: keeps the words counted twice or more"""
    return pair[1] >= 2


def sizes(records):
    """mapPartitions: the number of records of the partition"""
    yield sum(1 for _ in records)


def as_set(pair):
    """map: a value the record format cannot hold"""
    return {pair[0]}
