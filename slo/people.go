package slo

import (
	"math"
	"strconv"
)

// reasonValue prints an observed value as a failure's reason says it. A
// ratio is a percentage with two decimals for people (88.51%, not
// 88.5135%), rounded towards the side of the target it is on, so that it
// never reads as the target it missed (99.4999% of 99.5% reads 99.49%).
// Other values print as FormatValue does.
func reasonValue(o Objective, v float64) string {
	if (o.Kind != KindSuccess && o.Kind != KindErrors) || math.IsNaN(v) || math.IsInf(v, 0) || v == o.Target {
		return o.FormatValue(v)
	}
	toward := math.Floor // below the target: down
	if v > o.Target {
		toward = math.Ceil
	}
	return strconv.FormatFloat(toward(v*10000)/100, 'f', -1, 64) + "%"
}
