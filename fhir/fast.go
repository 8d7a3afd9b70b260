package fhir

import (
	"encoding/binary"
	stdjson "encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"github.com/balint-health/balint/jsonscan"
)

// The fast decoder reads the resources a history keeps straight into
// samply's structs, by plans compiled once per type, at about three
// times the speed of the v2 decoder (docs/performance.md). It decodes
// every element samply's types have, exactly as the v2 decoder with
// decodeOptions does, but only for input it is sure of: strict JSON with
// no null, no repeated member, no invalid UTF-8, no lone surrogate,
// numbers where samply wants them. On anything else it gives up (errFast)
// and the resource is decoded again by the v2 decoder, whose errors,
// mending and skip reasons stay the one account of a bad entry. So the
// fast path never changes a result; FuzzFastDecode and TestFastDecode
// compare the two decoders on generated, outside and mutated records.

// errFast is the fast decoder giving up; the caller decodes again with
// the v2 decoder.
var errFast = errors.New("fast decoder: input it does not handle")

// maxFastDepth bounds the nesting of a resource, far below the v2
// decoder's limit, so a deeply nested one is left to the decoder that
// reports it.
const maxFastDepth = 200

// value decodes the JSON object d is at into v, a *typed[P]; errFast if
// it gives up, and then v may hold part of it.
func (d *fastDec) value(v any) error {
	// The walker's own bound comes back after the resource: a Bundle read
	// inside a hook call nests no deeper than the call may.
	strict, limit := d.Strict, d.MaxDepth
	d.Strict = true
	if limit == 0 || limit > maxFastDepth {
		d.MaxDepth = maxFastDepth
	}
	defer func() { d.Strict, d.MaxDepth = strict, limit }()
	w, ok := wrappers[reflect.TypeOf(v)]
	if !ok || w.plan == nil {
		return errFast
	}
	if !d.wrapper(w, reflect.ValueOf(v).UnsafePointer()) {
		return errFast
	}
	return nil
}

// fastDec is one decoding: the input, where it is, how deep, and the
// arenas that hand out the many small values samply's pointers point to.
type fastDec struct {
	// Scanner is strict while a resource is decoded; around resources it
	// is not, so that where a resource ends is found wherever the v2
	// decoder would find it.
	jsonscan.Scanner
	strs   []string
	text   []byte
	chunks []chunk // by allocPlan.slot
	t      *tables // taken when first needed; see release
}

// tables are a decoding's lookup tables: the short strings seen last, by
// hash (interned), and the values decoded at each shareSite, by their
// bytes, with how often each site found one (share.go). A hook call reads
// each prefetch part with tables of its own, and growing them afresh was a
// tenth of what a typical call allocated, so they are kept between
// decodings, emptied.
type tables struct {
	seen   []*string
	shares map[shareKey]sliceHeader
	uses   map[*shareSite]*siteUse
}

var tablePool = sync.Pool{New: func() any {
	return &tables{shares: map[shareKey]sliceHeader{}, uses: map[*shareSite]*siteUse{}}
}}

// tables are d's tables, taken from the pool on first use.
func (d *fastDec) tables() *tables {
	if d.t == nil {
		t := tablePool.Get().(*tables)
		// About one intern slot per 512 bytes of input, 64 to 1,024: a
		// small history does not look through a large table.
		n := max(64, min(1024, 1<<bits.Len(uint(len(d.Data)/512))))
		if cap(t.seen) < n {
			t.seen = make([]*string, n)
		}
		t.seen = t.seen[:n]
		d.t = t
	}
	return d.t
}

// release empties d's tables, every slot of them, and gives them back:
// nothing of this decoding (its input, its values) is held past it, or
// found by the next. d is not to be used afterwards.
func (d *fastDec) release() {
	t := d.t
	if t == nil {
		return
	}
	d.t = nil
	clear(t.seen[:cap(t.seen)])
	clear(t.shares)
	clear(t.uses)
	tablePool.Put(t)
}

// A chunk is an array of one type from which values are handed out one
// by one: samply's many small pointed-to structs cost one allocation per
// chunk instead of one each. The chunk lives as long as any of them, all
// parts of the same history.
type chunk struct {
	base    unsafe.Pointer
	used, n int
}

// allocPlan is how values of one type are allocated.
type allocPlan struct {
	slot  int
	array reflect.Type // a slice of the type
	size  uintptr
}

// allocPlans are filled at init and only read afterwards.
var allocPlans = map[reflect.Type]*allocPlan{}

// maxChunk is the most bytes a chunk grows to.
const maxChunk = 4096

func allocOf(t reflect.Type) *allocPlan {
	if a, ok := allocPlans[t]; ok {
		return a
	}
	a := &allocPlan{slot: len(allocPlans), array: reflect.SliceOf(t), size: t.Size()}
	allocPlans[t] = a
	return a
}

// alloc is a new zero value of a's type. Chunks start small, so that a
// history of a few resources holds little, and double up to maxChunk.
func (d *fastDec) alloc(a *allocPlan) unsafe.Pointer {
	if a.slot >= len(d.chunks) {
		d.chunks = append(d.chunks, make([]chunk, len(allocPlans)-len(d.chunks))...)
	}
	c := &d.chunks[a.slot]
	if c.used == c.n {
		n := max(4, min(2*c.n, maxChunk/max(1, int(a.size))))
		*c = chunk{base: reflect.MakeSlice(a.array, n, n).UnsafePointer(), n: n}
	}
	p := unsafe.Add(c.base, uintptr(c.used)*a.size)
	c.used++
	return p
}

// leadingType is the resourceType of the object d is at when it is the
// object's first member, "" otherwise; d does not move.
func (d *fastDec) leadingType() string {
	s := d.Scanner
	s.Strict = true
	if !s.Consume('{') {
		return ""
	}
	if name, ok := s.String(nil); !ok || string(name) != "resourceType" || !s.Consume(':') {
		return ""
	}
	typ, ok := s.String(nil)
	if !ok {
		return ""
	}
	if k, ok := kindOf[string(typ)]; ok {
		return k.ResourceType
	}
	return ""
}

// newString is a *string from the arena: one allocation per 64.
func (d *fastDec) newString(s string) *string {
	if len(d.strs) == cap(d.strs) {
		d.strs = make([]string, 0, 64)
	}
	d.strs = append(d.strs, s)
	return &d.strs[len(d.strs)-1]
}

// keep is b as a string that outlives the input: a copy in the text arena,
// which is only appended to, so the strings it gave out never change; a
// short one is interned.
func (d *fastDec) keep(b []byte) string {
	if len(b) <= maxInterned {
		return *d.interned(b)
	}
	return d.copyText(b)
}

// interned is a *string holding b. A short string seen just before is
// given again, pointer and all, rather than copied: FHIR repeats its
// systems, codes, units and references thousands of times, and a history
// is never written to (History), so resources may share them.
func (d *fastDec) interned(b []byte) *string {
	if len(b) > maxInterned {
		return d.newString(d.copyText(b))
	}
	seen := d.tables().seen
	slot := &seen[internHash(b)&uint64(len(seen)-1)]
	if *slot != nil && **slot == string(b) {
		return *slot
	}
	*slot = d.newString(d.copyText(b))
	return *slot
}

// The text arena's blocks: the first holds what a small resource
// repeats little of, the last is where doubling stops.
const minText, maxText = 1 << 10, 16 << 10

// maxInterned is the longest string keep looks for among those it has
// seen: system URLs are about 40 bytes; ids and text, longer, rarely repeat.
const maxInterned = 64

// internHash spreads the short strings FHIR repeats over the intern
// table: their first and last eight bytes and their length, which tell
// apart the systems, codes, units and ids seen in a history at the cost of
// two loads. Strings it confuses only take each other's slot.
func internHash(b []byte) uint64 {
	var head, tail uint64
	if len(b) >= 8 {
		head, tail = binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[len(b)-8:])
	} else {
		for i, c := range b {
			head |= uint64(c) << (8 * i)
		}
	}
	h := (head*0x9E3779B97F4A7C15 ^ tail*0xC2B2AE3D27D4EB4F ^ uint64(len(b))) * 0x165667B19E3779F9
	return h >> 32
}

// copyText is b copied into the text arena. The arena's blocks start
// small and double up to maxText, as the chunks do: a hook call's small
// parts (its patient, a few conditions) each have an arena of their own.
func (d *fastDec) copyText(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(b) > 1024 {
		return string(b)
	}
	if cap(d.text)-len(d.text) < len(b) {
		d.text = make([]byte, 0, max(minText, min(2*cap(d.text), maxText)))
	}
	start := len(d.text)
	d.text = append(d.text, b...)
	return unsafe.String(&d.text[start], len(b))
}

func (d *fastDec) str() (string, bool) {
	var scratch [64]byte
	b, ok := d.String(scratch[:0])
	if !ok {
		return "", false
	}
	return d.keep(b), true
}

// decodeFn decodes one JSON value into the Go value at p.
type decodeFn func(d *fastDec, p unsafe.Pointer) bool

// structPlan is how to decode one struct type. Its fields are found by
// name in an open-addressed table: a map's string hashing was an eighth
// of decoding.
type structPlan struct {
	fields []fieldPlan
	names  []string
	slots  []int16 // index into fields, -1 for none
	mask   uint32
}

func hashName(s string) uint32 {
	n := len(s)
	if n == 0 {
		return 0
	}
	return uint32(n)*0x9E3779B1 ^ uint32(s[0])*0x85EBCA77 ^ uint32(s[n-1])*0xC2B2AE3D ^ uint32(s[n/2])*0x27D4EB2F
}

func (sp *structPlan) add(name string, f fieldPlan) {
	sp.fields = append(sp.fields, f)
	sp.names = append(sp.names, name)
}

// index builds the table once every field is added.
func (sp *structPlan) index() {
	size := 8
	for size < 4*len(sp.fields) {
		size *= 2
	}
	sp.mask = uint32(size - 1)
	sp.slots = make([]int16, size)
	for i := range sp.slots {
		sp.slots[i] = -1
	}
	for j, name := range sp.names {
		i := hashName(name) & sp.mask
		for sp.slots[i] >= 0 {
			i = (i + 1) & sp.mask
		}
		sp.slots[i] = int16(j)
	}
}

func (sp *structPlan) field(name string) (*fieldPlan, bool) {
	for i := hashName(name) & sp.mask; ; i = (i + 1) & sp.mask {
		j := sp.slots[i]
		if j < 0 {
			return nil, false
		}
		if sp.names[j] == name {
			return &sp.fields[j], true
		}
	}
}

type fieldPlan struct {
	index  int
	offset uintptr
	decode decodeFn
}

// wrapperPlan decodes a typed[P]: its resourceType and P's members.
type wrapperPlan struct {
	typeOffset, rOffset uintptr
	plan                *structPlan
	err                 error // why plan is nil
}

// wrappers are the plans by the type of *typed[P]; filled at init and only
// read afterwards.
var wrappers = map[reflect.Type]*wrapperPlan{}

// registerFast compiles the plan for *typed[P]; a type the fast decoder
// cannot decode gets a nil plan, and always goes to the v2 decoder.
func registerFast[P any]() {
	var w typed[P]
	c := compiler{plans: map[reflect.Type]*structPlan{}}
	plan, err := c.structOf(reflect.TypeFor[P]())
	if err != nil {
		plan = nil
	}
	wrappers[reflect.TypeOf(&w)] = &wrapperPlan{typeOffset: unsafe.Offsetof(w.ResourceType), rOffset: unsafe.Offsetof(w.R), plan: plan, err: err}
}

func (d *fastDec) wrapper(wp *wrapperPlan, base unsafe.Pointer) bool {
	resourceType := (*string)(unsafe.Add(base, wp.typeOffset))
	target := *(*unsafe.Pointer)(unsafe.Add(base, wp.rOffset))
	var seen [2]uint64
	typeSeen := false
	return d.Object(func(name string) bool {
		if name == "resourceType" {
			if typeSeen {
				return false
			}
			typeSeen = true
			s, ok := d.str()
			*resourceType = s
			return ok
		}
		return d.member(wp.plan, target, name, &seen)
	})
}

// member decodes the value of one member of a struct, or skips it if the
// struct has no such field, as the v2 decoder does.
func (d *fastDec) member(sp *structPlan, base unsafe.Pointer, name string, seen *[2]uint64) bool {
	f, ok := sp.field(name)
	if !ok {
		_, ok := d.Skip()
		return ok
	}
	bit := uint64(1) << (f.index & 63)
	if seen[f.index>>6]&bit != 0 {
		return false // a repeated member: the v2 decoder's merging decides
	}
	seen[f.index>>6] |= bit
	if d.Peek() == 'n' {
		return false // null: left to the v2 decoder's rules
	}
	return f.decode(d, unsafe.Add(base, f.offset))
}

// enumCodes is, for one of samply's code enums, each code its
// UnmarshalJSON reads, and the value it reads it as: found from its Code
// method and checked against UnmarshalJSON, so that a code found here
// decodes exactly as the method would decode it. Codes not found here are
// left to the method. nil for any other type.
func enumCodes(t reflect.Type) map[string]int {
	if t.Kind() != reflect.Int {
		return nil
	}
	code, ok := t.MethodByName("Code")
	if !ok || code.Type.NumIn() != 1 || code.Type.NumOut() != 1 || code.Type.Out(0).Kind() != reflect.String {
		return nil
	}
	codes := map[string]int{}
	for i := range 1000 {
		v := reflect.New(t)
		v.Elem().SetInt(int64(i))
		c := v.Elem().Method(code.Index).Call(nil)[0].String()
		if c == "<unknown>" {
			break
		}
		check := reflect.New(t)
		quoted, _ := stdjson.Marshal(c)
		if check.Interface().(stdjson.Unmarshaler).UnmarshalJSON(quoted) == nil && check.Elem().Int() == int64(i) && string(quoted) == `"`+c+`"` {
			codes[c] = i
		}
	}
	return codes
}

type compiler struct {
	plans map[reflect.Type]*structPlan
}

var (
	numberType      = reflect.TypeFor[stdjson.Number]()
	unmarshalerType = reflect.TypeFor[stdjson.Unmarshaler]()
	textType        = reflect.TypeFor[interface{ UnmarshalText([]byte) error }]()
)

func (c *compiler) structOf(t reflect.Type) (*structPlan, error) {
	if sp, ok := c.plans[t]; ok {
		return sp, nil // compiled or being compiled (recursive types)
	}
	if t.NumField() > 128 {
		return nil, fmt.Errorf("%s: too many fields", t)
	}
	sp := &structPlan{}
	c.plans[t] = sp
	for i := range t.NumField() {
		f := t.Field(i)
		name := jsonName(f)
		if name == "" {
			return nil, fmt.Errorf("%s.%s: no plain JSON name", t, f.Name)
		}
		fn, err := c.valueOf(f.Type)
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %w", t, f.Name, err)
		}
		sp.add(name, fieldPlan{index: i, offset: f.Offset, decode: fn})
	}
	sp.index()
	return sp, nil
}

// jsonName is a field's JSON member name, "" for anything but a plain
// exported field with a plain tag.
func jsonName(f reflect.StructField) string {
	if !f.IsExported() || f.Anonymous {
		return ""
	}
	tag := f.Tag.Get("json")
	name, opts, _ := strings.Cut(tag, ",")
	if name == "" || name == "-" || (opts != "" && opts != "omitempty") {
		return ""
	}
	return name
}

func (c *compiler) valueOf(t reflect.Type) (decodeFn, error) {
	pt := reflect.PointerTo(t)
	switch {
	case pt.Implements(textType):
		return nil, fmt.Errorf("%s: a text unmarshaler", t)
	case pt.Implements(unmarshalerType):
		if codes := enumCodes(t); codes != nil {
			return func(d *fastDec, p unsafe.Pointer) bool {
				m := d.Mark()
				if b, ok := d.String(nil); ok {
					if v, ok := codes[string(b)]; ok {
						*(*int)(p) = v
						return true
					}
				}
				d.Reset(m)
				start, ok := d.Skip()
				return ok && reflect.NewAt(t, p).Interface().(stdjson.Unmarshaler).UnmarshalJSON(d.Data[start:d.Pos]) == nil
			}, nil
		}
		return func(d *fastDec, p unsafe.Pointer) bool {
			start, ok := d.Skip()
			if !ok {
				return false
			}
			u := reflect.NewAt(t, p).Interface().(stdjson.Unmarshaler)
			return u.UnmarshalJSON(d.Data[start:d.Pos]) == nil
		}, nil
	case t == numberType:
		return func(d *fastDec, p unsafe.Pointer) bool {
			b, ok := d.Number()
			*(*stdjson.Number)(p) = stdjson.Number(d.keep(b))
			return ok
		}, nil
	}
	switch t.Kind() {
	case reflect.String:
		return func(d *fastDec, p unsafe.Pointer) bool {
			s, ok := d.str()
			*(*string)(p) = s
			return ok
		}, nil
	case reflect.Bool:
		return func(d *fastDec, p unsafe.Pointer) bool {
			switch {
			case d.Literal("true"):
				*(*bool)(p) = true
			case d.Literal("false"):
				*(*bool)(p) = false
			default:
				return false
			}
			return true
		}, nil
	case reflect.Int:
		return func(d *fastDec, p unsafe.Pointer) bool {
			b, ok := d.Number()
			if !ok {
				return false
			}
			n, err := strconv.ParseInt(string(b), 10, strconv.IntSize)
			if err != nil || string(b) == "-0" {
				return false
			}
			*(*int)(p) = int(n)
			return true
		}, nil
	case reflect.Struct:
		sp, err := c.structOf(t)
		if err != nil {
			return nil, err
		}
		return func(d *fastDec, p unsafe.Pointer) bool {
			var seen [2]uint64
			return d.Object(func(name string) bool { return d.member(sp, p, name, &seen) })
		}, nil
	case reflect.Pointer:
		return c.pointerTo(t.Elem())
	case reflect.Slice:
		return c.sliceOf(t)
	}
	return nil, fmt.Errorf("%s: kind %s not handled", t, t.Kind())
}

func (c *compiler) pointerTo(e reflect.Type) (decodeFn, error) {
	if e == reflect.TypeFor[string]() {
		return func(d *fastDec, p unsafe.Pointer) bool {
			var scratch [64]byte
			b, ok := d.String(scratch[:0])
			if ok {
				*(**string)(p) = d.interned(b)
			}
			return ok
		}, nil
	}
	elem, err := c.valueOf(e)
	if err != nil {
		return nil, err
	}
	a := allocOf(e)
	decode := func(d *fastDec, p unsafe.Pointer) bool {
		v := d.alloc(a)
		*(*unsafe.Pointer)(p) = v
		return elem(d, v)
	}
	if e.Kind() != reflect.Struct {
		return decode, nil
	}
	return (&shareSite{decode: decode}).sharing, nil
}

func (c *compiler) sliceOf(t reflect.Type) (decodeFn, error) {
	et := t.Elem()
	elem, err := c.valueOf(et)
	if err != nil {
		return nil, err
	}
	a := allocOf(et)
	decode := func(d *fastDec, p unsafe.Pointer) bool {
		// Most arrays in FHIR hold one element: it comes from a chunk, and
		// only a longer array gets an array of its own.
		var first unsafe.Pointer
		var more reflect.Value
		n := 0
		ok := d.Array(func() bool {
			if d.Peek() == 'n' {
				return false
			}
			var at unsafe.Pointer
			switch {
			case n == 0:
				first = d.alloc(a)
				at = first
			case n == 1 || n == more.Len():
				grown := reflect.MakeSlice(t, 2*n, 2*n)
				if n == 1 {
					grown.Index(0).Set(reflect.NewAt(et, first).Elem())
				} else {
					reflect.Copy(grown, more)
				}
				more = grown
				fallthrough
			default:
				at = more.Index(n).Addr().UnsafePointer()
			}
			n++
			return elem(d, at)
		})
		h := (*sliceHeader)(p)
		switch {
		case n == 0:
			*h = sliceHeader{data: unsafe.Pointer(&emptyArray), len: 0, cap: 0}
		case n == 1:
			*h = sliceHeader{data: first, len: 1, cap: 1}
		default:
			reflect.NewAt(t, p).Elem().Set(more.Slice3(0, n, n))
		}
		return ok
	}
	if et.Kind() != reflect.Struct {
		return decode, nil
	}
	return (&shareSite{slice: true, decode: decode}).sharing, nil
}

// sliceHeader is how Go lays out a slice.
type sliceHeader struct {
	data     unsafe.Pointer
	len, cap int
}

// emptyArray is where an empty, non-nil slice points, as the v2
// decoder's does for [].
var emptyArray [0]byte
