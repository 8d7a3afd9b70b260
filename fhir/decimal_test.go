package fhir

import (
	"math/big"
	"testing"
)

// decimals are literals as results and ranges write them, and the ones at
// the edges of the plain path: leading zeros, 18 and 19 digits, signs,
// exponents, fractions big.Rat reads.
var decimals = []string{
	"0", "-0", "0.0", "-0.0", "5", "5.0", "5.00", "5.1", "-5.1", "140", "0.003", "3.5", "12.50",
	"007", "00.1", "+5", "5.", ".5", "1e2", "1E-3", "2.5e1", "1/3", "0x10",
	"999999999999999999", "-999999999999999999", "9999999999999999999", "0.999999999999999999",
	"0.0000000000000000001", "123456789.123456789", "12345678.123456789", "-922337203685477580.7",
	"", "-", "abc", "5..1", "5.1.2", "--5", "1e", " 5",
}

func TestDecReadsAsBigRat(t *testing.T) {
	for _, s := range decimals {
		d, ok := ParseDec(s)
		r, rok := new(big.Rat).SetString(s)
		if ok != rok {
			t.Errorf("%q: read %v, big.Rat %v", s, ok, rok)
			continue
		}
		if ok && d.Rat().Cmp(r) != 0 {
			t.Errorf("%q: %s, big.Rat %s", s, d.Rat().RatString(), r.RatString())
		}
	}
}

func TestDecComparesAsBigRat(t *testing.T) {
	for _, a := range decimals {
		for _, b := range decimals {
			for _, k := range []int{0, 3, -3, -1, 20} {
				checkCmp(t, a, b, k)
			}
		}
	}
}

// checkCmp compares a with b shifted k places, as Dec and as big.Rat.
func checkCmp(t *testing.T, a, b string, k int) {
	t.Helper()
	da, ok1 := ParseDec(a)
	db, ok2 := ParseDec(b)
	if !ok1 || !ok2 {
		return
	}
	ra, _ := new(big.Rat).SetString(a)
	rb, _ := new(big.Rat).SetString(b)
	rb.Mul(rb, ratPow10(k))
	if got, want := da.Cmp(db.Shift(k)), ra.Cmp(rb); got != want {
		t.Errorf("%q against %q × 10^%d: %d, big.Rat %d", a, b, k, got, want)
	}
}

func TestDecNeverAllocatesOnPlainValues(t *testing.T) {
	a, _ := ParseDec("5.1")
	b, _ := ParseDec("140")
	if n := testing.AllocsPerRun(100, func() {
		x, _ := ParseDec("3.9")
		_ = a.Cmp(x) + b.Shift(-3).Cmp(a) + DecOf(42).Cmp(b)
	}); n != 0 {
		t.Errorf("%v allocations reading and comparing plain decimals", n)
	}
}

func FuzzDec(f *testing.F) {
	for _, s := range decimals {
		f.Add(s, "5.1", 0)
	}
	f.Fuzz(func(t *testing.T, a, b string, k int) {
		k %= 40
		d, ok := ParseDec(a)
		r, rok := new(big.Rat).SetString(a)
		if ok != rok || ok && d.Rat().Cmp(r) != 0 {
			t.Fatalf("%q: read %v, big.Rat %v", a, ok, rok)
		}
		checkCmp(t, a, b, k)
	})
}
