#!/bin/sh
# A predictor in plain sh for `verdict eval --predict`: answers each record
# with its inputs. It relies on the request's field order, which verdict
# keeps: "id" first and "inputs" last, so both are cut out with parameter
# expansion and no JSON parser.
#
#   verdict eval DATA --predict 'sh examples/predict-command/echo.sh'
echo '{"ready": true}'
while IFS= read -r line; do
  id=${line#*\"id\":}
  id=${id%%,*}
  inputs=${line#*\"inputs\":}
  inputs=${inputs%\}}
  printf '{"id":%s,"outputs":%s}\n' "$id" "$inputs"
done
