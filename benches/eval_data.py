"""Generated records for the `verdict eval` benches, in MLflow's evaluation
shape: half the outputs match their expected response, a quarter match up
to case, a quarter are other words. Deterministic (seeded), so that both
sides of a comparison score the same records.

Usage: python3 benches/eval_data.py N PATH
"""
import json
import random
import sys

WORDS = (
    "the quick brown fox jumps over lazy dog answer paris rome madrid tokyo "
    "capital city river ocean planet 1969 42 7"
).split()


def records(n, seed=7):
    rng = random.Random(seed)
    for i in range(n):
        expected = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 8)))
        roll = rng.random()
        if roll < 0.5:
            output = expected
        elif roll < 0.75:
            output = expected.upper()
        else:
            output = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 8)))
        yield {
            "inputs": {"question": f"question {i}: what is {expected}?"},
            "outputs": output,
            "expectations": {"expected_response": expected},
        }


if __name__ == "__main__":
    n, path = int(sys.argv[1]), sys.argv[2]
    with open(path, "w") as out:
        for record in records(n):
            out.write(json.dumps(record) + "\n")
