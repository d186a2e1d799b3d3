"""The smallest predictor for `verdict eval --predict`: answers each
record with its inputs, as they came. Standard library only.

    verdict eval DATA --predict 'python3 examples/predict-command/echo.py'

The protocol (docs/predict.md): write {"ready": true} once, then read one
JSON request per line and write one JSON answer per line, {"id", "outputs"}
or {"id", "error"}, flushed. Answers may come in any order; this one answers
in order.
"""
import json
import sys

print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    request = json.loads(line)
    print(json.dumps({"id": request["id"], "outputs": request["inputs"]}), flush=True)
