package fhir

import (
	"math/big"

	r4 "github.com/samply/golang-fhir-models/fhir-models/fhir"
)

// Dec is a decimal exactly as written: a result's value or a range's
// bound. A range check compares a value with its bounds, thousands of
// times in a large history, and big.Rat allocated on every reading and
// every comparison. The decimals results are written with ("5.1", "140",
// "0.003") fit an int64 with a count of decimal places, and compare so
// without allocating; any other (more digits, an exponent) is held as a
// big.Rat, as every decimal was before. Either way it is exact: a
// decimal's precision matters to a range check.
type Dec struct {
	coef  int64
	scale int32    // the value is coef × 10^-scale
	rat   *big.Rat // the value, when it is not held as coef and scale
}

// maxDigits is the most digits coef holds: 10^18 < 2^63.
const maxDigits = 18

// pow10 are the powers of ten an int64 holds.
var pow10 = func() (p [maxDigits + 1]int64) {
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

// ParseDec reads a decimal as big.Rat.SetString does. A plain one
// ("-12.50") is read into coef and scale; anything else is left to
// big.Rat, so what is accepted, and its value, never depend on the path.
func ParseDec(s string) (Dec, bool) {
	if d, ok := parsePlain(s); ok {
		return d, true
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return Dec{}, false
	}
	return Dec{rat: r}, true
}

// parsePlain reads an optional minus, digits without a leading zero (or
// the one zero), and an optional point followed by digits: JSON's numbers
// without an exponent, at most maxDigits digits in all.
func parsePlain(s string) (Dec, bool) {
	i, neg := 0, false
	if i < len(s) && s[i] == '-' {
		i, neg = 1, true
	}
	intStart := i
	var coef int64
	digits := 0
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		coef = coef*10 + int64(s[i]-'0')
		digits++
	}
	intDigits := i - intStart
	if intDigits == 0 || intDigits > 1 && s[intStart] == '0' {
		return Dec{}, false
	}
	scale := 0
	if i < len(s) && s[i] == '.' {
		i++
		fracStart := i
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			coef = coef*10 + int64(s[i]-'0')
			digits++
		}
		scale = i - fracStart
		if scale == 0 {
			return Dec{}, false
		}
	}
	if i != len(s) || digits > maxDigits {
		return Dec{}, false
	}
	if neg {
		coef = -coef
	}
	return Dec{coef: coef, scale: int32(scale)}, true
}

// DecOf is the integer n as a Dec.
func DecOf(n int64) Dec { return Dec{coef: n} }

// Decimal is a quantity's value, exactly as sent.
func Decimal(q *r4.Quantity) (Dec, bool) {
	if q == nil || q.Value == nil {
		return Dec{}, false
	}
	return ParseDec(q.Value.String())
}

// Shift is d × 10^k: a unit a decimal prefix away (UnitPower).
func (d Dec) Shift(k int) Dec {
	if d.rat != nil {
		return Dec{rat: new(big.Rat).Mul(d.rat, ratPow10(k))}
	}
	return Dec{coef: d.coef, scale: d.scale - int32(k)}
}

// Cmp compares d and e: -1, 0 or +1 as d is less than, equal to or
// greater than e.
func (d Dec) Cmp(e Dec) int {
	if d.rat == nil && e.rat == nil {
		if c, ok := cmpPlain(d, e); ok {
			return c
		}
	}
	return d.Rat().Cmp(e.Rat())
}

// cmpPlain compares two coef-and-scale values by bringing the one with
// fewer decimal places to the other's; false when that would overflow.
func cmpPlain(d, e Dec) (int, bool) {
	a, b := d.coef, e.coef
	switch diff := int64(d.scale) - int64(e.scale); {
	case diff > 0:
		if b, ok := times10(b, diff); ok {
			return cmpInt(a, b), true
		}
		return 0, false
	case diff < 0:
		if a, ok := times10(a, -diff); ok {
			return cmpInt(a, b), true
		}
		return 0, false
	}
	return cmpInt(a, b), true
}

// times10 is n × 10^k, false if it does not fit an int64.
func times10(n, k int64) (int64, bool) {
	if n == 0 {
		return 0, true
	}
	if k > maxDigits {
		return 0, false
	}
	p := pow10[k]
	if n > 0 && n > (1<<63-1)/p || n < 0 && n < -(1<<63-1)/p {
		return 0, false
	}
	return n * p, true
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Rat is d as a big.Rat (a new one the caller may change).
func (d Dec) Rat() *big.Rat {
	if d.rat != nil {
		return new(big.Rat).Set(d.rat)
	}
	return new(big.Rat).Mul(new(big.Rat).SetInt64(d.coef), ratPow10(-int(d.scale)))
}

// ratPow10 is 10^k, exactly.
func ratPow10(k int) *big.Rat {
	p := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(abs(k))), nil)
	if k >= 0 {
		return new(big.Rat).SetInt(p)
	}
	return new(big.Rat).SetFrac(big.NewInt(1), p)
}
