package fhir

import "unsafe"

// FHIR repeats whole elements, byte for byte: every laboratory result of
// a history has the same category and subject, every result of a test the
// same code and reference range. The fast decoder gives the value it
// decoded for the first of them to the rest, as it does for short strings,
// instead of a copy each: a large history holds a third less (the
// samply structs and arrays of its elements), and the repeats are skipped
// rather than decoded. Decoding depends only on the bytes, so the same
// bytes give the same value; a history is never written to (History), so
// resources may share it.

// A shareSite is a pointer or slice field of struct values, where a value
// may be one already decoded.
type shareSite struct {
	slice  bool // the field is a slice; otherwise a pointer
	decode decodeFn
}

// shareKey is a value's site and bytes: a string over the input, which
// outlives the table (tables.shares, emptied when the decoding ends).
type shareKey struct {
	site *shareSite
	raw  string
}

// siteUse counts, per decoding, how often a site's values were found
// already decoded.
type siteUse struct{ tries, hits int32 }

const (
	// maxShared is the longest value looked for: longer ones rarely repeat.
	maxShared = 1024
	// A site whose values rarely repeat (an order reference, a measured
	// quantity) stops being looked at after shareTrial tries with fewer
	// than one in shareFewest found, so that it does not fill the table.
	shareTrial  = 128
	shareFewest = 8
)

// sharing decodes a value at s, or gives the one decoded before for the
// same bytes.
func (s *shareSite) sharing(d *fastDec, p unsafe.Pointer) bool {
	t := d.tables()
	use := t.uses[s]
	if use == nil {
		use = &siteUse{}
		t.uses[s] = use
	}
	if use.tries >= shareTrial && use.hits*shareFewest < use.tries {
		return s.decode(d, p)
	}
	// The value's bytes are found without reading them, which a value
	// seen before needs no more than: its bytes are ones already read
	// whole. One not seen before is read whole below.
	start, end, ok := d.Extent(maxShared)
	if !ok {
		return s.decode(d, p)
	}
	use.tries++
	key := shareKey{s, unsafe.String(&d.Data[start], end-start)}
	if v, found := t.shares[key]; found {
		use.hits++
		d.Pos = end
		if s.slice {
			*(*sliceHeader)(p) = v
		} else {
			*(*unsafe.Pointer)(p) = v.data
		}
		return true
	}
	if !s.decode(d, p) {
		return false
	}
	if d.Pos != end {
		return true // not where the brackets said: not kept for sharing
	}
	if s.slice {
		t.shares[key] = *(*sliceHeader)(p)
	} else {
		t.shares[key] = sliceHeader{data: *(*unsafe.Pointer)(p)}
	}
	return true
}
