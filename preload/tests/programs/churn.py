# An allocation-heavy Python script for the preload tests and benchmark: dicts,
# lists, strings. Its output does not depend on the allocator.
import sys

def build_table(n):
    table = {}
    for i in range(n):
        key = "k%d-%s" % (i, "x" * (i % 50))
        table[key] = [i, str(i) * (i % 7), {"id": i, "name": "n%d" % i}]
    return table

def word_counts(text):
    counts = {}
    for w in text.split():
        counts[w] = counts.get(w, 0) + 1
    return counts

def main(rounds):
    total = 0
    for r in range(rounds):
        t = build_table(20000)
        total += sum(len(v[1]) for v in t.values())
        text = " ".join("w%d" % (i * 31 % 997) for i in range(50000))
        total += len(word_counts(text))
        del t
    print("total", total)

main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
